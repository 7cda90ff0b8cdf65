# t/mtrcfg-lib.bash: fixtures shared by the mtrcfg*.bats files.
#
# A custom device type "fake" (a shell reader speaking the reader
# contract) records every command line it is started with, and a stub
# publisher writes what it receives to a file, so that supervision can be
# tested without a meter and without mqttpub.

# mk_conf: $TMP/etc/config.yaml, $TMP/etc/config.d, the fake type and the
# stub publisher.  Extra config.yaml lines come as arguments.
mk_conf() {
	mkdir -p "$TMP/etc/config.d" "$TMP/etc/types" "$TMP/scan" "$TMP/out"
	cat > "$TMP/etc/types/fake" <<'SH'
#!/bin/sh
# A reader of the "fake" type: prints its --value every --poll-interval.
dev=fake interval=1 value=1
for a; do
	case $a in
	--check) check=1 ;;
	--list-options) printf 'device\nvalue\npoll-interval\nport\nlabel\n'; exit 0 ;;
	--device=*) dev=${a#*=} ;;
	--value=*) value=${a#*=} ;;
	--poll-interval=*) interval=${a#*=} ;;
	--label=*|--port=*) ;;
	*) echo "fake: $a: unknown option" >&2; exit 2 ;;
	esac
done
case $value in *[!0-9]*|'') echo "fake: --value: '$value' is not a number" >&2; exit 2 ;; esac
[ -n "$check" ] && exit 0
d=$(dirname "$0")/../../out
for a; do printf '[%s]\n' "$a"; done > "$d/args.$dev.$$"
[ -n "${P1_KEY-}" ] && (umask 077 && printf '%s\n' "$P1_KEY" > "$d/key.$dev.$$")
while :; do
	printf '{"time":"2026-11-27T10:00:00.000Z","type":"fake","device":"%s","values":{"v":{"value":%s}}}\n' "$dev" "$value"
	sleep "$interval"
done
SH
	cat > "$TMP/etc/stubpub" <<'SH'
#!/bin/sh
# A stand-in for mqttpub: keeps the last line it read, and the password.
for a; do [ "$a" = --check ] && exit 0; done
d=$(dirname "$0")/../out
printf '%s\n' "$MQTT_PASSWORD" > "$d/password.$$"
echo "stubpub[$METER2MQTT_LOG_TAG]: reading" >&2
while IFS= read -r line; do
	dev=${line#*\"device\":\"}; dev=${dev%%\"*}
	printf '%s\n' "$line" > "$d/last.$dev.tmp" && mv "$d/last.$dev.tmp" "$d/last.$dev"
done
SH
	chmod +x "$TMP/etc/types/fake" "$TMP/etc/stubpub"
	{
		echo "types_dir: types"
		echo "mqttpub: ./stubpub"
		echo "state_dir: $TMP/state"
		echo "logging:"
		echo "  dir: $TMP/log"
		printf '%s\n' "$@"
	} > "$TMP/etc/config.yaml"
}

# The pid of the fake reader of device $1, or nothing.
reader_pid() { pgrep -f -- "$TMP/etc/types/fake --device=$1( |\$)" | head -1; }
reader_running() { [ -n "$(reader_pid "$1")" ]; }
reader_gone() { [ -z "$(reader_pid "$1")" ]; }
last_value() { jq -r .values.v.value "$TMP/out/last.$1" 2>/dev/null; }
value_is() { [ "$(last_value "$1")" = "$2" ]; }

mtrcfg_run() { run mtrcfg -c "$TMP/etc/config.yaml" "$@"; }

# Processes of this test's device pipelines (readers and stub publishers
# live under $TMP/etc, loggers write under $TMP/log).
procs_left() { pgrep -f -- "$TMP/(etc|log)/" || true; }

# Every descendant of pid $1.
descendants() {
	local kids k
	kids=$(pgrep -P "$1" || true)
	for k in $kids; do
		echo "$k"
		descendants "$k"
	done
}

# start_s6: an s6-svscan on $TMP/scan (tracked).
start_s6() {
	s6-svscan "$TMP/scan" > "$TMP/svscan.log" 2>&1 &
	SCAN_PID=$!
	track_pid "$SCAN_PID"
	wait_for 50 test -p "$TMP/scan/.s6-svscan/control"
}

# start_runit: a runsvdir on $TMP/scan (tracked).
start_runit() {
	runsvdir -P "$TMP/scan" > "$TMP/runsvdir.log" 2>&1 &
	SCAN_PID=$!
	track_pid "$SCAN_PID"
}

# setup and teardown of a test with a scanner: supervised_setup, then
# supervised_teardown stops it all and fails if anything is left.
supervised_setup() { setup_tmp; SCAN_PID=; }
supervised_teardown() {
	stop_supervision
	kill_tracked
	[ -z "$(procs_left)" ]
}

# Stops the scanner and every supervisor and service below it, then makes
# sure nothing of this test is left.
stop_supervision() {
	local tree= p i
	if [ -n "$SCAN_PID" ] && kill -0 "$SCAN_PID" 2>/dev/null; then
		tree=$(descendants "$SCAN_PID")
		if [ -d "$TMP/scan/.s6-svscan" ]; then
			s6-svscanctl -t "$TMP/scan" 2>/dev/null || kill -TERM "$SCAN_PID"
		else
			kill -HUP "$SCAN_PID" # runsvdir: TERM to every runsv, then exit
		fi
		wait_gone "$SCAN_PID" 50 || kill -KILL "$SCAN_PID" 2>/dev/null
	fi
	for p in $tree $(procs_left); do
		wait_gone "$p" 50 || kill -KILL "$p" 2>/dev/null
	done
	true
}
