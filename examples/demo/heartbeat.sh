#!/bin/sh
# Unjailed host process of the demo: writes the time to the file named by
# $1 every 5 seconds, so `cat` on that file shows that nem-rootd keeps it
# running. It ignores its NEM channel on fd 3 and ends on SIGTERM.
set -eu
out=$1
trap 'exit 0' TERM INT
while :; do
	date -u '+%Y-%m-%dT%H:%M:%SZ' >"$out.tmp"
	mv "$out.tmp" "$out"
	sleep 5 &
	wait $!
done
