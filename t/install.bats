#!/usr/bin/env bats
# make install: programs, man pages, service templates and examples where a
# packager expects them, under DESTDIR.

load helper

setup() { setup_tmp; }
teardown() { kill_tracked; }

@test "make install DESTDIR=... lays out the package" {
	run make -C "$TOP" --no-print-directory -s install DESTDIR="$TMP/root"
	assert_success
	r=$TMP/root
	for p in p1read p1sim kmpread kmpsim mqttpub mtrcfg; do
		[ -x "$r/usr/local/bin/$p" ] || fail "no $p in bin"
		[ -f "$r/usr/local/share/man/man1/$p.1" ] || fail "no $p.1"
	done
	[ -f "$r/usr/local/share/man/man5/meter2mqtt.5" ]
	[ -f "$r/usr/local/share/man/man7/meter2mqtt.7" ]
	[ -x "$r/usr/local/share/meter2mqtt/runit/meter2mqtt/run" ]
	[ -x "$r/usr/local/share/meter2mqtt/runit/meter2mqtt-s6/run" ]
	[ -f "$r/usr/local/share/meter2mqtt/examples/config.d/dsmr_main.yaml.example" ]
	[ -d "$r/etc/meter2mqtt/config.d" ]
	# The config may come to hold the MQTT password: not world-readable.
	run stat -c %a "$r/etc/meter2mqtt/config.yaml"
	assert_output 640
	# The service template runs the installed mtrcfg on the installed config.
	run grep -c 'PATH=/usr/local/bin:' "$r/usr/local/share/meter2mqtt/runit/meter2mqtt/run"
	assert_output 1
	# The systemd unit, starting the installed svscan-boot.
	grep -qx 'ExecStart=/usr/local/lib/meter2mqtt/svscan-boot' "$r/usr/local/lib/systemd/system/meter2mqtt.service"
	[ -x "$r/usr/local/lib/meter2mqtt/svscan-boot" ]
	# Shell tools for the source tree are not installed.
	[ ! -e "$r/usr/local/bin/m2m-deps" ] && [ ! -e "$r/usr/local/bin/m2m-demo" ]
}

@test "make install keeps an existing config.yaml" {
	mkdir -p "$TMP/root/etc/meter2mqtt"
	echo "mqtt: {host: mine}" > "$TMP/root/etc/meter2mqtt/config.yaml"
	run make -C "$TOP" --no-print-directory -s install DESTDIR="$TMP/root"
	assert_success
	run cat "$TMP/root/etc/meter2mqtt/config.yaml"
	assert_output "mqtt: {host: mine}"
}
