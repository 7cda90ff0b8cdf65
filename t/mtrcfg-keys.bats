#!/usr/bin/env bats
# mtrcfg with an encrypted meter's key (key:, key_file:, auth_key:): into
# the service's env/ (mode 0600) and the reader's environment, never onto a
# command line or into a file others can read.  One runsvdir test.
load helper
load mtrcfg-lib

setup() { supervised_setup; }
teardown() { supervised_teardown; }

KEY=D491470F47126332B07D1923B3504188

@test "mtrcfg: a meter key reaches the reader by env/, absent from ps and every world-readable file" {
	mk_conf
	# Refused first, changing nothing: malformed, then readable by others.
	printf 'type: fake\nvalue: 5\nkey: 1234\n' > "$TMP/etc/config.d/lux.yaml"
	chmod 600 "$TMP/etc/config.d/lux.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	[ "$status" -ne 0 ] || fail "$output"
	[[ "$output" == *"lux.yaml:3:"*"key: malformed key: not 32 hex digits"* ]] || fail "$output"
	[ ! -e "$TMP/scan/lux" ]
	printf 'type: fake\nvalue: 5\nkey: %s\n' "$KEY" > "$TMP/etc/config.d/lux.yaml"
	chmod 644 "$TMP/etc/config.d/lux.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	[ "$status" -ne 0 ] || fail "$output"
	[[ "$output" == *"can be read by others: chmod 600 it"* ]] || fail "$output"
	[[ "$output" != *"$KEY"* ]] || fail "the key was printed: $output"
	[ ! -e "$TMP/scan/lux" ]

	chmod 600 "$TMP/etc/config.d/lux.yaml"
	start_runit
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_output "mtrcfg: Started device: lux (fake)"
	wait_for 150 value_is lux 5
	[ "$(stat -c %a "$TMP/scan/lux/env/P1_KEY")" = 600 ]
	[ "$(cat "$TMP/scan/lux/env/P1_KEY")" = "$KEY" ]
	[ "$(cat "$TMP"/out/key.lux.*)" = "$KEY" ]
	! ps -eo args | grep -v grep | grep -q "$KEY" || false
	! grep -q -- "$KEY" "$TMP"/out/args.lux.* || false
	local readable
	readable=$(find "$TMP" -type f -perm -o=r -exec grep -l -- "$KEY" {} + 2>/dev/null || true)
	[ -z "$readable" ] || fail "world-readable: $readable"

	# key_file: the key from a file of its own (relative to config.yaml).
	printf '%s\n' "$KEY" > "$TMP/etc/lux.key"
	chmod 600 "$TMP/etc/lux.key"
	printf 'type: fake\nvalue: 6\nkey_file: lux.key\nauth_key: 00112233445566778899AABBCCDDEEFF\n' \
		> "$TMP/etc/config.d/lux.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_output "mtrcfg: Reloading device lux (config changed)"
	wait_for 150 value_is lux 6
	[ "$(cat "$TMP/scan/lux/env/P1_KEY")" = "$KEY" ]
	[ "$(cat "$TMP/scan/lux/env/P1_AUTH_KEY")" = 00112233445566778899AABBCCDDEEFF ]
	[ "$(stat -c %a "$TMP/scan/lux/env/P1_AUTH_KEY")" = 600 ]
	! ps -eo args | grep -v grep | grep -q "$KEY" || false
}
