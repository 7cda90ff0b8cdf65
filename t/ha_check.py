#!/usr/bin/env python3
"""ha_check.py: checks MQTT discovery and states the way Home Assistant takes them.

usage: ha_check.py [--ha-prefix P] [--expect-text PARAM=FILE] [--expect-missing N] CAPTURE
       ha_check.py --available-at UNIXTIME CAPTURE

CAPTURE holds the messages a broker carried, one a line, as
`mosquitto_sub -F '%t %x'` writes them (topic, space, payload in hex).  Every
sensor config under P/sensor/ is checked against the rules below, taken from
Home Assistant's own code; every value_template and json_attributes_template
is rendered with Jinja2 on every payload its state topic carried, and the
result is taken as homeassistant/components/mqtt/sensor.py takes it.  Prints a
summary; exits 1 naming each entity and rule broken.  With --available-at
(and a capture written with '%U %t %x'), prints whether Home Assistant shows
each entity available at that time: its availability topic and expire_after.

Sources (home-assistant/core, the files and commits named):
  [UNITS]  components/sensor/const.py @00eb668: DEVICE_CLASS_UNITS
  [STATE]  components/sensor/const.py @00eb668: DEVICE_CLASS_STATE_CLASSES,
           NON_NUMERIC_DEVICE_CLASSES
  [UNITOF] const.py (UnitOfEnergy, UnitOfVolume, ... of the same releases)
  [SENSOR] components/mqtt/sensor.py @the version with check_state_too_long:
           _PLATFORM_SCHEMA_BASE, validate_sensor_state_and_device_class_config,
           _update_state (PAYLOAD_NONE "None" = unknown; "" ignored when a
           number is expected; options; 255 characters; datetime parsing)
  [SCHEMA] components/mqtt/schemas.py @0f5c1b5: MQTT_ENTITY_DEVICE_INFO_SCHEMA,
           MQTT_ORIGIN_INFO_SCHEMA, MQTT_AVAILABILITY_SCHEMA
  [ENERGY] components/energy/validate.py @002ef74: the units and state classes
           the Energy dashboard takes for grid, gas and water
"""
import datetime
import json
import re
import sys

import jinja2
import jinja2.sandbox

# ---- [UNITOF] ----
ENERGY_UNITS = {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"}
VOLUME_UNITS = {"ft³", "CCF", "m³", "L", "mL", "gal", "fl. oz."}
PRESSURE_UNITS = {"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"}
TEMPERATURE_UNITS = {"°C", "°F", "K"}

# ---- [UNITS] DEVICE_CLASS_UNITS (the device classes a meter can need) ----
DEVICE_CLASS_UNITS = {
    "apparent_power": {"VA"},
    "current": {"mA", "A"},
    "duration": {"d", "h", "min", "s", "ms"},
    "energy": ENERGY_UNITS,
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
    "gas": {"CCF", "ft³", "m³"},
    "power_factor": {"%", None},
    "power": {"W", "kW", "MW", "GW", "TW"},
    "pressure": PRESSURE_UNITS,
    "reactive_power": {"var"},
    "temperature": TEMPERATURE_UNITS,
    "temperature_delta": TEMPERATURE_UNITS,
    "voltage": {"µV", "mV", "V", "kV", "MV"},
    "volume": VOLUME_UNITS,
    "volume_flow_rate": {"m³/h", "ft³/min", "L/min", "gal/min"},
    "water": {"CCF", "ft³", "m³", "gal", "L"},
}
# ---- [STATE] ----
ALL_STATE_CLASSES = {"measurement", "total", "total_increasing"}
TOTALS = {"total", "total_increasing"}
DEVICE_CLASS_STATE_CLASSES = {
    "apparent_power": {"measurement"},
    "current": {"measurement"},
    "date": set(),
    "duration": ALL_STATE_CLASSES,
    "energy": TOTALS,
    "enum": set(),
    "frequency": {"measurement"},
    "gas": TOTALS,
    "power_factor": {"measurement"},
    "power": {"measurement"},
    "pressure": {"measurement"},
    "reactive_power": {"measurement"},
    "temperature": {"measurement"},
    "temperature_delta": {"measurement"},
    "timestamp": set(),
    "voltage": {"measurement"},
    "volume": TOTALS,
    "volume_flow_rate": {"measurement"},
    "water": TOTALS,
}
NON_NUMERIC_DEVICE_CLASSES = {"date", "enum", "timestamp"}

# ---- [ENERGY] ----
ENERGY_DASHBOARD_UNITS = {
    "energy": ENERGY_UNITS,
    "gas": {"CCF", "ft³", "m³", "L", "MCF"} | ENERGY_UNITS,
    "water": {"CCF", "ft³", "m³", "gal", "L", "MCF"},
}

# ---- [SENSOR] + [SCHEMA]: the keys a sensor's discovery may hold ----
SENSOR_KEYS = {
    # MQTT_RO_SCHEMA
    "state_topic", "value_template", "qos", "encoding",
    # _PLATFORM_SCHEMA_BASE
    "device_class", "expire_after", "force_update", "last_reset_value_template", "name", "options",
    "suggested_display_precision", "state_class", "unit_of_measurement",
    # MQTT_ENTITY_COMMON_SCHEMA and MQTT_AVAILABILITY_SCHEMA
    "availability", "availability_mode", "availability_template", "availability_topic", "payload_available",
    "payload_not_available", "device", "enabled_by_default", "entity_category", "entity_picture", "icon",
    "json_attributes_template", "json_attributes_topic", "object_id", "default_entity_id", "unique_id",
    # discovery: the origin of the message
    "origin", "platform",
}
DEVICE_KEYS = {"identifiers", "connections", "manufacturer", "model", "model_id", "name", "hw_version",
               "serial_number", "sw_version", "via_device", "suggested_area", "configuration_url"}
ORIGIN_KEYS = {"name", "sw_version", "sw", "support_url", "url"}
ENTITY_CATEGORIES = {"config", "diagnostic"}
PAYLOAD_NONE = "None"
STATE_MAX = 255

# Names the readers give to counts and codes (lib/meter/obis.c, lib/meter/kmp.c),
# written here apart from ha_classes.c: none may be a measurement.
COUNTER_OR_CODE = re.compile(
    r"(_count(_\d+)?$|_counter$|^info_code$|_device_type(_\d+)?$|_position(_\d+)?$|_tariff$|_date|^meter_time$"
    r"|_number(_[a-z]|_\d+)?$|_identifier|_id$|checksum|_edition$|_header$|_information$|_state$|^customer_)")

# Peaks, averages and limits: values of a moment even in a unit of a total.
PEAK_OR_LIMIT = re.compile(r"(^max_|^min_|^avg_|_limit(_\d+)?$|^maximum_demand|_threshold|^max_current|_per_pulse)")


def problem(problems, uid, rule, why):
    problems.append(f"{uid}: {rule}: {why}")


def valid_topic(t, wildcards):
    if not isinstance(t, str) or not t or len(t.encode()) > 65535 or "\0" in t:
        return False
    if wildcards:
        return all(level in ("+", "#") or ("+" not in level and "#" not in level) for level in t.split("/"))
    return "+" not in t and "#" not in t


def check_config(cfg, uid, problems):
    if not isinstance(cfg, dict):
        return problem(problems, uid, "[SCHEMA]", "not a JSON object")
    for key in cfg:
        if key not in SENSOR_KEYS:
            problem(problems, uid, "[SENSOR] schema", f"unknown key {key}")
    if not valid_topic(cfg.get("state_topic"), True):
        problem(problems, uid, "[SENSOR] schema", "state_topic missing or invalid")
    for key in ("availability_topic", "json_attributes_topic"):
        if key in cfg and not valid_topic(cfg[key], True):
            problem(problems, uid, "[SCHEMA]", f"{key} invalid")
    if "availability_topic" not in cfg and "availability" not in cfg:
        problem(problems, uid, "availability", "none: Home Assistant would show it available forever")
    if "expire_after" in cfg and not (isinstance(cfg["expire_after"], int) and cfg["expire_after"] > 0):
        problem(problems, uid, "[SENSOR] schema", "expire_after is not a positive integer")
    if cfg.get("entity_category", "diagnostic") not in ENTITY_CATEGORIES:
        problem(problems, uid, "[SCHEMA]", "entity_category")
    for key in ("value_template", "json_attributes_template"):
        if key in cfg:
            try:
                ENV.parse(cfg[key])
            except jinja2.TemplateSyntaxError as e:
                problem(problems, uid, "template", f"{key}: {e}")
    dev = cfg.get("device")
    if not isinstance(dev, dict) or not dev.get("identifiers"):
        problem(problems, uid, "[SCHEMA] device", "no identifiers")
    else:
        for key in dev:
            if key not in DEVICE_KEYS:
                problem(problems, uid, "[SCHEMA] device", f"unknown key {key}")
            elif key not in ("identifiers", "connections") and not isinstance(dev[key], str):
                problem(problems, uid, "[SCHEMA] device", f"{key} is not a string")
    origin = cfg.get("origin")
    if origin is not None and (not isinstance(origin, dict) or "name" not in origin or set(origin) - ORIGIN_KEYS):
        problem(problems, uid, "[SCHEMA] origin", "name required, no other keys")

    dc, sc, unit, options = cfg.get("device_class"), cfg.get("state_class"), cfg.get("unit_of_measurement"), \
        cfg.get("options")
    if sc is not None and sc not in ALL_STATE_CLASSES:
        problem(problems, uid, "[STATE]", f"unknown state_class {sc}")
    # validate_sensor_state_and_device_class_config
    if options is not None:
        if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
            problem(problems, uid, "[SENSOR] options", "a non-empty list of strings")
        if sc or unit:
            problem(problems, uid, "[SENSOR] options", "not with state_class or unit_of_measurement")
        if dc != "enum":
            problem(problems, uid, "[SENSOR] options", "only with device_class enum")
    if dc is not None:
        if dc not in DEVICE_CLASS_STATE_CLASSES:
            problem(problems, uid, "[UNITS]", f"device_class {dc} unknown here")
        elif dc in NON_NUMERIC_DEVICE_CLASSES:
            if unit or sc:
                problem(problems, uid, "[STATE] non-numeric", f"{dc} with a unit or state_class")
        else:
            if unit not in DEVICE_CLASS_UNITS[dc]:
                problem(problems, uid, "[UNITS]", f"{dc} does not take unit {unit!r}")
            if sc is not None and sc not in DEVICE_CLASS_STATE_CLASSES[dc]:
                problem(problems, uid, "[STATE]", f"{dc} does not take state_class {sc}")
        if dc in ENERGY_DASHBOARD_UNITS:
            if sc not in TOTALS:
                problem(problems, uid, "[ENERGY]", f"{dc} with state_class {sc}: the Energy dashboard refuses it")
            if unit not in ENERGY_DASHBOARD_UNITS[dc]:
                problem(problems, uid, "[ENERGY]", f"{dc} in {unit}: the Energy dashboard refuses it")
    # A meter's totals: energy in an energy unit is offered to the Energy
    # dashboard only as device_class energy [ENERGY]; no total is averaged.
    peak_or_limit = PEAK_OR_LIMIT.search(entity_param(cfg))
    if unit in ENERGY_UNITS and dc != "energy" and not peak_or_limit:
        problem(problems, uid, "[ENERGY]", f"{unit} without device_class energy: not offered")
    if isinstance(unit, str) and re.search(r"x10$", unit):
        problem(problems, uid, "[UNITS]", f"{unit}: a scaled unit Home Assistant does not know")
    if sc == "measurement" and not peak_or_limit and (unit in ENERGY_UNITS | VOLUME_UNITS or str(unit).endswith(("Wh", "varh", "VAh"))):
        problem(problems, uid, "[STATE]", f"a total in {unit} as a measurement")
    if sc == "measurement":
        if COUNTER_OR_CODE.search(entity_param(cfg)):
            problem(problems, uid, "counter or code", "a measurement: Home Assistant would average it")
        if unit is None and dc != "power_factor":
            problem(problems, uid, "counter or code", "a measurement without a unit")


def entity_param(cfg):
    """The reading's parameter name of an entity: the last level of its state
    topic, or the name the --json template looks up."""
    m = re.search(r"\.get\('values', \{\}\)\.get\('([^']+)'", cfg.get("value_template", ""))
    return m.group(1) if m else cfg.get("state_topic", "").rsplit("/", 1)[-1]


def pipeline_of(cfg):
    """prefix/type/device: the state topic without the parameter (the whole
    state topic with --json)."""
    st = cfg.get("state_topic", "")
    if "value_json.get('values'" in cfg.get("value_template", ""):
        return st
    return st.rsplit("/", 1)[0]


# ---- rendering as Home Assistant does ----

ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)


def render(template, payload):
    """MqttValueTemplate.async_render_with_possible_json_value: value is the
    payload, value_json the payload read as JSON when it is JSON."""
    variables = {"value": payload}
    try:
        variables["value_json"] = json.loads(payload)
    except ValueError:
        pass
    return ENV.from_string(template).render(**variables).strip()


def take_state(cfg, payload, uid, problems):
    """_update_state: what becomes of one state payload.  Returns the state,
    None for unknown, or ... when Home Assistant keeps the last one."""
    dc, sc, unit = cfg.get("device_class"), cfg.get("state_class"), cfg.get("unit_of_measurement")
    tmpl = cfg.get("value_template")
    try:
        out = render(tmpl, payload) if tmpl else payload
    except jinja2.TemplateError as e:
        problem(problems, uid, "template", f"{type(e).__name__}: {e} on {payload[:80]!r}")
        return ...
    if out == PAYLOAD_NONE:
        return None
    numeric = bool(unit or sc or (dc and dc not in NON_NUMERIC_DEVICE_CLASSES))
    if numeric:
        if out == "":
            return ...
        try:
            float(out)
        except ValueError:
            problem(problems, uid, "[SENSOR] state", f"{out[:40]!r} is not a number")
        return out
    if cfg.get("options") and out not in cfg["options"]:
        problem(problems, uid, "[SENSOR] options", f"state {out!r} not in {cfg['options']}")
        return ...
    if dc in (None, "enum"):
        if len(out) > STATE_MAX:
            problem(problems, uid, "[SENSOR] state too long", f"{len(out)} characters")
        return out
    try:
        t = datetime.datetime.fromisoformat(out)
        if dc == "timestamp" and t.tzinfo is None:
            problem(problems, uid, "[SENSOR] timestamp", f"{out!r} has no time zone")
    except ValueError:
        problem(problems, uid, "[SENSOR] datetime", f"{out!r} is no ISO 8601 time")
    return out


def take_attributes(cfg, payload, uid, problems):
    try:
        out = render(cfg["json_attributes_template"], payload)
        attrs = json.loads(out)
    except (jinja2.TemplateError, ValueError) as e:
        problem(problems, uid, "attributes", f"{e}")
        return None
    if not isinstance(attrs, dict):
        problem(problems, uid, "attributes", "not a JSON object")
        return None
    return attrs


def read_capture(path):
    """(time, topic, payload) per line of '%t %x' or '%U %t %x' (time None
    without %U)."""
    msgs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            rest, _, hexpayload = line.rpartition(" ")
            when = None
            first, _, topic = rest.partition(" ")
            if topic and re.fullmatch(r"[0-9]+\.[0-9]+", first):
                when = float(first)
            else:
                topic = rest
            msgs.append((when, topic, bytes.fromhex(hexpayload).decode("utf-8")))
    return msgs


def availability_at(at, configs, msgs):
    """What Home Assistant shows for each entity at time at, from a capture
    with times: MqttAvailabilityMixin (the last payload on the availability
    topic) and expire_after [SENSOR] (a state message within expire_after
    seconds before)."""
    lines = []
    for topic, payload in sorted(configs.items()):
        cfg = json.loads(payload)
        before = [(w, t, p) for w, t, p in msgs if w is not None and w <= at]
        avail = [p for w, t, p in before if t == cfg.get("availability_topic")]
        states = [w for w, t, p in before if t == cfg.get("state_topic")]
        if avail and avail[-1] == cfg.get("payload_not_available", "offline"):
            verdict = "unavailable: offline"
        elif cfg.get("expire_after") and (not states or at - states[-1] > cfg["expire_after"]):
            verdict = "unavailable: expired"
        else:
            verdict = "available"
        lines.append(f"{cfg.get('unique_id')} {verdict}")
    return lines


def main(argv):
    ha_prefix, expect_text, expect_missing, path, at = "homeassistant", {}, 0, None, None
    args = iter(argv)
    for a in args:
        if a == "--ha-prefix":
            ha_prefix = next(args)
        elif a == "--expect-text":
            param, _, fname = next(args).partition("=")
            with open(fname, encoding="utf-8") as f:
                expect_text[param] = f.read().rstrip("\n")
        elif a == "--expect-missing":
            expect_missing = int(next(args))
        elif a == "--available-at":
            at = float(next(args))
        else:
            path = a
    msgs = read_capture(path)
    problems = []
    configs, states = {}, {}
    config_re = re.compile("^" + re.escape(ha_prefix) + r"/sensor/([A-Za-z0-9_-]+/)?[A-Za-z0-9_-]+/config$")
    for _, topic, payload in msgs:
        if config_re.match(topic):
            if payload:
                configs[topic] = payload
        else:
            states.setdefault(topic, []).append(payload)

    if at is not None:
        print("\n".join(availability_at(at, configs, msgs)))
        return 0
    uids, device_of_pipeline, pipeline_of_device = {}, {}, {}
    renders = missing = attrs_checked = 0
    seen_text = set()
    for topic, payload in sorted(configs.items()):
        try:
            cfg = json.loads(payload)
        except ValueError:
            problem(problems, topic, "[SCHEMA]", "not JSON")
            continue
        uid = cfg.get("unique_id", topic)
        if uid in uids:
            problem(problems, uid, "unique_id", f"also in {uids[uid]}")
        uids[uid] = topic
        check_config(cfg, uid, problems)
        # One configured device, one Home Assistant device.
        ident = tuple(sorted((cfg.get("device") or {}).get("identifiers") or []))
        pipe = pipeline_of(cfg)
        other = device_of_pipeline.setdefault(pipe, ident)
        if other != ident:
            problem(problems, uid, "device", f"{pipe} is in two devices: {other} and {ident}")
        other = pipeline_of_device.setdefault(ident, pipe)
        if other != pipe:
            problem(problems, uid, "device", f"{ident} holds two pipelines: {other} and {pipe}")
        avail = cfg.get("availability_topic")
        if avail and "online" not in states.get(avail, []):
            problem(problems, uid, "availability", f"{avail} never said online")

        param = entity_param(cfg)
        last = ...
        for p in states.get(cfg.get("state_topic"), []):
            renders += 1
            if "value_json.get('values'" in cfg.get("value_template", ""):
                try:
                    entry = json.loads(p).get("values", {}).get(param)
                except ValueError:
                    entry = None
                if not isinstance(entry, dict) or entry.get("value") is None:
                    missing += 1
            st = take_state(cfg, p, uid, problems)
            if st is not ...:
                last = st
            if "json_attributes_template" in cfg:
                attrs = take_attributes(cfg, p, uid, problems)
                attrs_checked += 1
                if param in expect_text and attrs is not None and attrs.get("text") is not None:
                    if attrs.get("text") != expect_text[param]:
                        problem(problems, uid, "text attribute", "does not hold the whole text")
        if param in expect_text:
            want = expect_text[param]
            if last is ... or last is None or len(last) > STATE_MAX or last != want[:STATE_MAX]:
                problem(problems, uid, "long text", f"state {last!r:.60} is not the text cut to {STATE_MAX}")
            if "json_attributes_template" not in cfg:
                problem(problems, uid, "long text", "no attribute holds the whole text")
            seen_text.add(param)
    for param in expect_text:
        if param not in seen_text:
            problems.append(f"{param}: no entity for the expected text")
    if missing < expect_missing:
        problems.append(f"only {missing} renders on a reading lacking the value, expected {expect_missing}")
    print(f"{len(configs)} configs, {len(pipeline_of_device)} devices, {renders} states rendered "
          f"({missing} lacking the value), {attrs_checked} attributes")
    for p in problems:
        print(p)
    return 1 if problems or not configs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
