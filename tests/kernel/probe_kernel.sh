#!/bin/sh
# Builds one small squashfs, erofs and ext4 image in a private temporary
# folder, runs probe_kernel on them and removes the folder on any exit.
# usage: probe_kernel.sh PROBE_BINARY
set -eu
probe=$1
if [ "$(id -u)" -ne 0 ]; then
	echo "probe_kernel: skipped: needs root"
	exit 77
fi
work=$(mktemp -d /tmp/nem-probe.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/tree/bin"
echo "nem probe" > "$work/tree/hello"
mksquashfs "$work/tree" "$work/img.squashfs" -quiet -noappend >/dev/null
mkfs.erofs --quiet "$work/img.erofs" "$work/tree" >/dev/null
truncate -s 8M "$work/img.ext4"
mke2fs -q -t ext4 -d "$work/tree" "$work/img.ext4"
loops_before=$(losetup -a | grep -c "$work" || true)
"$probe" "$work" "$work/img.squashfs" "$work/img.erofs" "$work/img.ext4"
loops_after=$(losetup -a | grep -c "$work" || true)
if [ "$loops_after" -ne "$loops_before" ]; then
	echo "probe_kernel: loop devices left attached to $work" >&2
	losetup -a | grep "$work" >&2
	exit 1
fi
