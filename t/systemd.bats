#!/usr/bin/env bats
# meter2mqtt.service, installed by make install into a throwaway root
# (t/root.bash): systemd-analyze verify, then its ExecStart run the way
# systemd would (the unit's user and groups, directories, working directory
# and environment, no systemd) against a simulated meter on a pty and a test
# broker; ExecReload; SIGTERM leaves no process of the tree.

load helper
load root

UNIT=/usr/local/lib/systemd/system/meter2mqtt.service

setup() {
	skip_in_asan_pass
	setup_tmp
	root_init
	make -C "$TOP" --no-print-directory -s install DESTDIR="$TMP/dest" > "$TMP/install.log" 2>&1 ||
		fail "make install: $(cat "$TMP/install.log")"
	in_root rm -rf /var/lib/meter2mqtt # no state of an earlier install (in the root only)
	in_root cp -a "$TMP/dest/." /
}
teardown() { kill_tracked; }

# unit KEY: the (last) value of KEY= in the installed unit.
unit() { sed -n "s/^$1=//p" "$TMP/dest$UNIT" | tail -1; }

# The user as the README's first hour creates it (the package's postinst
# does the same).
add_service_user() {
	in_root sh -c 'adduser --quiet --system --group --home /var/lib/meter2mqtt --no-create-home meter2mqtt &&
		adduser --quiet meter2mqtt dialout' 2> /dev/null
}

@test "systemd-analyze verify passes on the unit, silently" {
	add_service_user
	run --separate-stderr in_root systemd-analyze verify "$UNIT"
	assert_success
	[ -z "$stderr" ] || fail "$stderr"
	# and it would catch a mistake
	in_root sh -c "sed -i 's/^ProtectSystem=/ProtectSytem=/' $UNIT"
	run --separate-stderr in_root systemd-analyze verify "$UNIT"
	[[ "$stderr" == *"Unknown key 'ProtectSytem'"* ]] || fail "$stderr"
}

@test "the unit: its own user in dialout, strict sandbox, reload reaches mtrcfg, one kill for the tree" {
	[ "$(unit User)" = meter2mqtt ]
	[ "$(unit SupplementaryGroups)" = dialout ]
	[ "$(unit ProtectSystem)" = strict ]
	[ "$(unit NoNewPrivileges)" = yes ]
	[ "$(unit ReadWritePaths)" = "/run/meter2mqtt /var/lib/meter2mqtt /var/log/meter2mqtt" ]
	[ "$(unit RuntimeDirectory)" = meter2mqtt ] && [ "$(unit StateDirectory)" = meter2mqtt ]
	[ "$(unit KillMode)" = control-group ]
	[ "$(unit ExecReload)" = "/usr/bin/s6-svc -h /run/meter2mqtt/service/mtrcfg" ]
	! grep -q '^PrivateDevices=' "$TMP/dest$UNIT" || false
}

# tree_of PID: PID and all its descendants.
tree_of() {
	local p
	echo "$1"
	for p in $(ps -o pid= --ppid "$1"); do tree_of "$p"; done
}

@test "ExecStart as systemd runs it: a simulated meter's readings reach the broker; reload; SIGTERM ends all" {
	add_service_user
	start_broker
	start_pty_pair p1
	# A serial port as udev makes it: group dialout, 0660.
	local tty
	tty=$(readlink -f "$TMP/p1.b")
	chgrp dialout "$tty" && chmod 0660 "$tty"
	p1sim -r 2 --seed 3 -o "$TMP/p1.a" 2> "$TMP/p1sim.log" &
	track_pid $!
	# The first device file, as the README's first hour writes it.
	cat > "$TMP/config.yaml" <<-EOF
		mqtt:
		  host: "127.0.0.1"
		  port: $BROKER_PORT
		  topic_prefix: "meters"
		  qos: 1
		  retain: true
	EOF
	cat > "$TMP/main.yaml" <<-EOF
		type: "dsmr"
		port: "$tty"
		parameters: ["current_electricity_usage", "electricity_used_tariff_1"]
	EOF
	in_root sh -c "install -m 0640 -g meter2mqtt '$TMP/config.yaml' /etc/meter2mqtt/config.yaml &&
		cp '$TMP/main.yaml' /srv/main.yaml && ln -s /srv/main.yaml /etc/meter2mqtt/config.d/dsmr_main.yaml"

	# ExecStart as systemd runs it (t/unit-exec: the unit's user, groups,
	# directories, working directory and environment).
	local uid runtime
	uid=$(in_root id -u "$(unit User)")
	runtime=/run/$(unit RuntimeDirectory)
	in_root_bg "$TOP/t/unit-exec" "$UNIT" > "$TMP/journal" 2>&1
	local main=$ROOT_PID

	# The readings, on the broker.
	run timeout 30 mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -C 1 \
		-t meters/dsmr/dsmr_main/electricity_used_tariff_1
	[ "$status" -eq 0 ] || fail "no reading: $(cat "$TMP/journal")"
	[[ "$output" =~ ^[0-9]+\.[0-9]{3}$ ]] || fail "not a meter reading: $output"
	# Everything runs as the service user, nothing as root.
	local pids
	wait_for 50 test -d "/proc/$main/root$runtime/service/dsmr_main"
	pids=$(tree_of "$main")
	[ "$(ps -o uid= -p "$(echo $pids | tr ' ' ,)" | sort -u | xargs)" = "$uid" ] ||
		fail "not all as $(unit User) ($uid): $(ps -o uid=,args= -p "$(echo $pids | tr ' ' ,)")"
	ps -o args= -p "$(echo $pids | tr ' ' ,)" > "$TMP/tree"
	grep -q '^s6-svscan' "$TMP/tree" && grep -q '^mtrcfg .* -w' "$TMP/tree" && grep -q 'bin/p1read --device=dsmr_main' "$TMP/tree" &&
		grep -q 'bin/mqttpub .*--device dsmr_main' "$TMP/tree" || fail "$(cat "$TMP/tree")"
	# The lines reach the journal (standard output), each naming its program.
	wait_for 50 grep -q '^mtrcfg: ' "$TMP/journal" || fail "$(cat "$TMP/journal")"

	# systemctl reload: a change inotify cannot see (the target of a
	# symlinked device file) is reconciled at once.
	sed -i 's/"current_electricity_usage", //' "$TMP/main.yaml"
	cp "$TMP/main.yaml" "/proc/$main/root/srv/main.yaml"
	grep -q current_electricity_usage "/proc/$main/root$runtime/service/dsmr_main/run"
	local reload
	reload=$(unit ExecReload)
	reload=${reload/\/run\//\/proc\/$main\/root\/run\/}
	$reload
	wait_for 50 sh -c "! grep -q current_electricity_usage /proc/$main/root$runtime/service/dsmr_main/run" ||
		fail "no reconcile after reload: $(cat "$TMP/journal")"

	# systemctl stop: SIGTERM (to the main process only, here) ends the tree.
	kill -TERM "$main"
	local p
	for p in $pids; do
		wait_gone "$p" 100 || fail "still running after SIGTERM: $(ps -o pid=,args= -p "$p")"
	done
	[ -z "$(pgrep -u "$uid")" ] || fail "left: $(ps -o pid=,args= -u "$uid")"
	# mqttpub said goodbye (its input ended: s6-svscan stops the reader
	# first, then closes the pipe), and the journal knows which device it was
	grep -q '^mqttpub\[dsmr_main\]: spool /var/lib/meter2mqtt/dsmr_main: [0-9]* bytes written' "$TMP/journal" ||
		fail "$(cat "$TMP/journal")"
}
