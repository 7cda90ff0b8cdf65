#!/usr/bin/env bats
# The README's "first hour", followed in a throwaway root (t/root.bash) with
# the commands the README prints, taken from it: install the package, find
# the port, the broker, the first device file, start, see the readings,
# where to look.  What this machine lacks is stood in for, and only that:
# sudo runs the command (we are root), sudoedit writes the test broker's
# address, systemctl runs the unit as systemd would (t/unit-exec),
# journalctl shows what the unit wrote, mosquitto_sub is pointed at the test
# broker's port; the meter is p1sim on a pty behind a /dev/serial/by-id link.

load helper
load root

setup_file() { build_deb; }

setup() {
	skip_in_asan_pass
	setup_tmp
	DEB=$(the_deb)
}
teardown() {
	local pid
	pid=$(cat "$TMP/root.upper/run/m2m-test.pid" 2>/dev/null) && kill -TERM "$pid" 2>/dev/null && wait_gone "$pid" 100
	kill_tracked
}

# readme_blocks: the README's first-hour shell blocks, NUL-separated.
readme_blocks() {
	awk '/^The first hour/ { on = 1 } on && /^Conventions shared/ { exit }
		on && /^```sh$/ { inb = 1; next } inb && /^```$/ { inb = 0; printf "%c", 0; next } inb { print }' "$TOP/README"
}

# The stand-ins, in $TMP/shims (first on PATH inside the root).
make_shims() {
	mkdir -p "$TMP/shims"
	printf '#!/bin/sh\nexec "$@"\n' > "$TMP/shims/sudo"
	# sudoedit: the edit a user makes, the test broker's host and port
	cat > "$TMP/shims/sudoedit" <<-EOF
		#!/bin/sh
		sed -i -e 's/^  host: .*/  host: "127.0.0.1"/' -e 's/^  port: .*/  port: $BROKER_PORT/' "\$1"
	EOF
	# (a subscription without -C ends after 10 s, one with it within 20 s)
	cat > "$TMP/shims/mosquitto_sub" <<-EOF
		#!/bin/sh
		case " \$* " in *" -C "*) w=20 ;; *) w=10 ;; esac
		exec /usr/bin/mosquitto_sub -p $BROKER_PORT -W "\$w" "\$@"
	EOF
	cat > "$TMP/shims/systemctl" <<-'EOF'
		#!/bin/sh
		unit=/lib/systemd/system/meter2mqtt.service pidfile=/run/m2m-test.pid
		start() {
			setsid "$M2M_TOP/t/unit-exec" "$unit" >> /var/log/m2m-journal 2>&1 < /dev/null &
			echo $! > "$pidfile"
		}
		stop() {
			pid=$(cat "$pidfile") && kill -TERM "$pid" && while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
			rm -f "$pidfile"
		}
		case $* in
		"enable --now meter2mqtt" | "start meter2mqtt") start ;;
		"stop meter2mqtt") stop ;;
		"reload meter2mqtt") "$M2M_TOP/t/unit-exec" "$unit" reload ;;
		"status meter2mqtt") [ -f "$pidfile" ] && echo "Active: active (running)" &&
			ps -o pid=,args= --ppid "$(cat "$pidfile")" ;;
		daemon-reload) ;;
		*) echo "systemctl stand-in: $*: not emulated" >&2; exit 1 ;;
		esac
	EOF
	printf '#!/bin/sh\ncat /var/log/m2m-journal\n' > "$TMP/shims/journalctl"
	chmod +x "$TMP/shims"/*
}

@test "the README's first hour, step by step, in a throwaway root" {
	root_init
	start_broker
	start_pty_pair p1
	p1sim -r 2 --seed 4 -o "$TMP/p1.a" 2> "$TMP/p1sim.log" &
	track_pid $!
	make_shims
	local tty by_id=usb-FTDI_FT232R_USB_UART_A10KBZ5R-if00-port0
	tty=$(readlink -f "$TMP/p1.b")
	chgrp dialout "$tty" && chmod 0660 "$tty"
	# the root starts as a fresh machine: no state of an earlier install
	ROOT_SETUP="$ROOT_PRIVATE_DEV && rm -rf \"\$r/var/lib/meter2mqtt\" && mkdir -p \"\$r/dev/serial/by-id\" && ln -s $tty \"\$r/dev/serial/by-id/$by_id\""

	# The blocks, in README order; the package's (not make install's) way.
	local i=0 block
	: > "$TMP/steps"
	while IFS= read -r -d '' block; do
		i=$((i + 1))
		[[ $block == *"make install"* ]] && continue
		block=${block//.\/build\/deb\/meter2mqtt_0.1.0_armhf.deb/$DEB}
		printf '%s\n' "$block" > "$TMP/step$i.sh"
		echo "$i" >> "$TMP/steps"
	done < <(readme_blocks)
	[ "$(grep -c . "$TMP/steps")" -ge 7 ] || fail "only $(grep -c . "$TMP/steps") blocks in the README's first hour"
	grep -q 'apt install' "$TMP/step$(head -1 "$TMP/steps").sh" || fail "the first step is not the package"

	# One root session for all of it (the service runs across steps).
	cat > "$TMP/session" <<-EOF
		#!/bin/bash
		export PATH="$TMP/shims:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" M2M_TOP="$TOP"
		export DEBIAN_FRONTEND=noninteractive
		for i in \$(cat "$TMP/steps"); do
			bash "$TMP/step\$i.sh" > "$TMP/step\$i.out" 2>&1
			echo "\$?" > "$TMP/step\$i.status"
		done
		systemctl stop meter2mqtt 2>/dev/null || true
	EOF
	chmod +x "$TMP/session"
	ROOT_SETUP=$ROOT_SETUP in_root "$TMP/session"

	# step by step: what each printed
	local s=($(cat "$TMP/steps"))
	status_of() { cat "$TMP/step$1.status"; }
	out_of() { cat "$TMP/step$1.out"; }
	# 1 install
	[ "$(status_of "${s[0]}")" = 0 ] || fail "install: $(out_of "${s[0]}")"
	# 2 the port: the by-id name is listed
	[ "$(status_of "${s[1]}")" = 0 ] || fail "ports: $(out_of "${s[1]}")"
	[[ "$(out_of "${s[1]}")" == *"$by_id -> $tty"* ]] || fail "ports: $(out_of "${s[1]}")"
	# 3 the broker, 4 the device file, checked
	[ "$(status_of "${s[2]}")" = 0 ] || fail "broker: $(out_of "${s[2]}")"
	[ "$(status_of "${s[3]}")" = 0 ] || fail "device file: $(out_of "${s[3]}")"
	# 5 started; 6 the readings arrive
	[ "$(status_of "${s[4]}")" = 0 ] || fail "start: $(out_of "${s[4]}")"
	[[ "$(out_of "${s[5]}")" =~ meters/dsmr/dsmr_main/electricity_used_tariff_1\ [0-9]+\.[0-9]{3} ]] ||
		fail "readings: $(out_of "${s[5]}") $(ls -lan "$TMP/root.upper/var/lib" "$TMP/root.upper/var/lib/meter2mqtt" 2>&1) $(cat "$TMP/root.upper/var/log/m2m-journal")"
	[[ "$(out_of "${s[5]}" | tail -1)" =~ ^[0-9]+\.[0-9]{3}$ ]] || fail "one reading: $(out_of "${s[5]}")"
	# where to look: running, the journal names the watcher, the service
	# directory of the device, status online
	[ "$(status_of "${s[6]}")" = 0 ] || fail "nothing arrives: $(out_of "${s[6]}")"
	out_of "${s[6]}" > "$TMP/look"
	grep -q 'active (running)' "$TMP/look" && grep -q '^mtrcfg: ' "$TMP/look" && grep -qx 'dsmr_main' "$TMP/look" &&
		grep -qx 'online' "$TMP/look" || fail "where to look: $(cat "$TMP/look")"
	# by hand, the service stopped: a reading line with the meter's values
	[ "$(status_of "${s[7]}")" = 0 ] || fail "by hand: $(out_of "${s[7]}")"
	grep -q '"electricity_used_tariff_1"' "$TMP/step${s[7]}.out" || fail "by hand: $(out_of "${s[7]}")"
}
