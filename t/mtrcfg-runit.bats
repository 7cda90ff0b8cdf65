#!/usr/bin/env bats
# mtrcfg with a real runsvdir.  runsvdir looks at its directory only every
# five seconds, so this file holds one test.
load helper
load mtrcfg-lib

setup() { supervised_setup; }
teardown() { supervised_teardown; }

@test "mtrcfg, runit: new device starts, edit restarts it, touch does not, delete stops it" {
	mk_conf 'mqtt: { username: gw, password: "runit-secret-42" }'
	start_runit
	printf 'type: fake\nvalue: 5\n' > "$TMP/etc/config.d/rmeter.yaml"
	run mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan" -s runit
	assert_output "mtrcfg: Started device: rmeter (fake)"
	wait_for 150 value_is rmeter 5
	pid1=$(reader_pid rmeter)
	[ "$(stat -c %a "$TMP/scan/rmeter/env/MQTT_PASSWORD")" = 600 ]
	! ps -eo args | grep -v grep | grep -q runit-secret-42 || false
	[ "$(cat "$TMP"/out/password.*)" = runit-secret-42 ]
	# stderr reaches the devices' one svlogd, the line names the device
	wait_for 50 grep -qF 'stubpub[rmeter]: reading' "$TMP/log/devices/current"

	printf 'type: fake\nvalue: 6\n' > "$TMP/etc/config.d/rmeter.yaml"
	run mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan" -s runit
	assert_output "mtrcfg: Reloading device rmeter (config changed)"
	wait_for 100 value_is rmeter 6
	pid2=$(reader_pid rmeter)
	[ -n "$pid2" ] && [ "$pid2" != "$pid1" ]

	touch "$TMP/etc/config.d/rmeter.yaml"
	run mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan" -s runit
	assert_output ""
	[ "$(reader_pid rmeter)" = "$pid2" ]

	rm "$TMP/etc/config.d/rmeter.yaml"
	run mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan" -s runit
	assert_output "mtrcfg: Stopped device: rmeter"
	wait_for 100 reader_gone rmeter
	[ ! -e "$TMP/scan/rmeter" ]
}
