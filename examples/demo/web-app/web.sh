#!/bin/sh
# Root program of the web jail, started by nem-init in two roles.
#
# With LISTEN_FDS set it is the startup program: it reads one line from the
# brokered store connection (NEM_SERVICE_FDS="store=FD") into the
# persistent volume, counts its starts there, and then sleeps until
# nem-init forwards SIGTERM. Without it, it is one inetd instance with the
# HTTP connection on stdin and stdout, and it runs busybox httpd on it.
set -eu

if [ -z "${LISTEN_FDS:-}" ]; then
	exec /bin/busybox httpd -i -h /srv/app/www
fi

exec 3>&-
fd=${NEM_SERVICE_FDS#store=}
case $fd in
''|*[!0-9]*)
	echo "web.sh: invalid NEM_SERVICE_FDS '$NEM_SERVICE_FDS': expected store=FD, so [access] of web.toml must name only store" >&2
	exit 1
	;;
esac
eval "read -r line <&$fd"
eval "exec $fd<&-"

starts=$(cat /srv/data/starts 2>/dev/null || echo 0)
starts=$((starts + 1))
echo "$starts" >/srv/data/starts.tmp
mv /srv/data/starts.tmp /srv/data/starts
echo "$line" >/srv/data/store.txt
sync
echo "web.sh: start $starts; store sent: $line" >&2

exec /bin/sleep 2147483647
