#!/bin/sh
# One instance per HTTP connection of the web jail: nem-init accepts on the
# inetd [[listen]] entry and starts this script with the connection on
# stdin and stdout and a fresh brokered store connection
# (NEM_SERVICE_FDS="store=FD"). It stores the store's line in the
# persistent volume, counts the jail's starts there at the first request
# after each start, and then runs busybox httpd on the connection.
set -eu

fd=${NEM_SERVICE_FDS#store=}
case $fd in
''|*[!0-9]*)
	echo "web.sh: invalid NEM_SERVICE_FDS '${NEM_SERVICE_FDS:-}': expected store=FD, so [access] of web.toml must name only store" >&2
	exit 1
	;;
esac
eval "read -r line <&$fd"
eval "exec $fd<&-"

# /tmp is a tmpfs made at each jail start, so only the first request after
# a start creates this folder; mkdir is atomic, so two first requests at
# once count one start.
if mkdir /tmp/web-started 2>/dev/null; then
	starts=$(cat /srv/data/starts 2>/dev/null || echo 0)
	starts=$((starts + 1))
	echo "$starts" >/srv/data/starts.tmp
	mv /srv/data/starts.tmp /srv/data/starts
	echo "web.sh: start $starts; store sent: $line" >&2
fi
echo "$line" >"/srv/data/store.txt.$$"
mv "/srv/data/store.txt.$$" /srv/data/store.txt
sync

exec /bin/busybox httpd -i -h /srv/app/www
