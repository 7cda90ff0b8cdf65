/* kmpsim: a Kamstrup MULTICAL stand-in.  It answers KMP requests (GetType,
 * GetSerialNo, GetRegister with 1 to 8 ids) on a pseudo-terminal it makes,
 * on a tty it is given (one end of a socat pair) or on a TCP port, with
 * values the user sets, and misbehaves on demand the way real meters and
 * IR heads do: echo, silence, bad CRCs, falling asleep.  With --pace it
 * sends at the real line rate, because a pseudo-terminal has none. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/files.h"
#include "meter/kmp.h"
#include "meter/port.h"
#include "base/util.h"

#define MAX_REGS 256
#define MAX_CLIENTS 8

static const char usage_text[] =
	"usage: kmpsim [-v] [--pace] [-s BAUD[:8N2]] [--delay MS] [--echo] [--silent]\n"
	"              [--corrupt N] [--sleep-after N] [-r REG=VALUE[:UNIT[:LEN]]]...\n"
	"              [--drop REG,...] [--serial-number N] [--meter-type N]\n"
	"              [--revision LN] [-o] TARGET\n"
	"  TARGET                pty:LINK (make a pseudo-terminal, LINK names it),\n"
	"                        tcp:[HOST:]PORT (listen; HOST defaults to 127.0.0.1),\n"
	"                        or the path of a tty (one end of a socat pair)\n"
	"  -r, --register, --set REG=VALUE[:UNIT[:LEN]]\n"
	"                        answer register REG (name, id or 0x id) with VALUE\n"
	"                        (63.44, -12.5, 6344e-2 keeps mantissa and exponent);\n"
	"                        UNIT by name (kWh, MWh, GJ, m3, C, ...) or code,\n"
	"                        LEN the mantissa bytes (1-8, default 4)\n"
	"  --drop REG,...        do not answer these registers\n"
	"  --pace                send at the line rate of -s (default 1200:8N2: 11 bits a\n"
	"                        byte) and take as long to receive a request as the wire\n"
	"  --delay MS            wait MS before answering (meter turnaround)\n"
	"  --echo                send each request back first, as some IR heads do\n"
	"  --silent              answer nothing until SIGUSR1 (which toggles silence)\n"
	"  --corrupt N           break the CRC of the next N replies\n"
	"  --sleep-after N       fall silent after answering N requests (SIGUSR1 wakes)\n"
	"  --serial-number N     GetSerialNo answer (default 19088743)\n"
	"  --meter-type N        GetType answer (default 0x0004), --revision (default F1)\n"
	"  -v, --verbose         log every request on stderr\n"
	"  -h, --help, --version\n";

struct sim_register {
	uint16_t id;
	uint8_t unit, siex, len;
	uint8_t mantissa[8];
	bool answered;
};

static struct {
	struct sim_register regs[MAX_REGS];
	int nregs;
	uint32_t serial;
	uint16_t type, revision;
	bool pace, echo, silent, verbose;
	long delay_ms, corrupt, sleep_after;
	long answered_since_wake;
	unsigned long requests;
	int64_t byte_ns;
	struct serial_params line;
	char link[256];
} sim = {
	.serial = 19088743,
	.type = 0x0004,
	.revision = 0x0601,
	.line = { 1200, 8, 'N', 2 },
};

static volatile sig_atomic_t got_usr1, got_term;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

/* ---- the register set ---- */

static struct sim_register *reg_slot(uint16_t id)
{
	for (int i = 0; i < sim.nregs; i++)
		if (sim.regs[i].id == id)
			return &sim.regs[i];
	if (sim.nregs == MAX_REGS)
		die(EXIT_USAGE, "more than %d registers", MAX_REGS);
	struct sim_register *r = &sim.regs[sim.nregs++];
	memset(r, 0, sizeof *r);
	r->id = id;
	return r;
}

/* "63.44" -> 6344, -2; "6344e-2" -> 6344, -2; "-5" -> 5, 0, negative. */
static int parse_value(const char *s, uint64_t *mantissa, bool *negative, int *exp10)
{
	*negative = *s == '-';
	if (*s == '-' || *s == '+')
		s++;
	uint64_t m = 0;
	int frac = 0, digits = 0;
	bool point = false;
	for (; *s && *s != 'e' && *s != 'E'; s++) {
		if (*s == '.' && !point) {
			point = true;
			continue;
		}
		if (*s < '0' || *s > '9' || m > (UINT64_MAX - 9) / 10)
			return -1;
		m = m * 10 + (uint64_t)(*s - '0');
		digits++;
		frac += point;
	}
	long e = 0;
	if (*s && parse_long(s + 1, -63, 63, &e) < 0)
		return -1;
	if (!digits || e - frac < -63 || e - frac > 63)
		return -1;
	*mantissa = m;
	*exp10 = (int)e - frac;
	return 0;
}

static int parse_unit(const char *s)
{
	int code = kmp_unit_code(s);
	long n;
	if (code < 0 && parse_long(s, 0, 255, &n) == 0)
		code = (int)n;
	if (code < 0 && strncmp(s, "0x", 2) == 0) {
		char *end;
		unsigned long v = strtoul(s + 2, &end, 16);
		if (*end == '\0' && end != s + 2 && v <= 255)
			code = (int)v;
	}
	return code;
}

/* REG=VALUE[:UNIT[:LEN]] */
static void set_register(const char *spec)
{
	char buf[256];
	if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf)
		die(EXIT_USAGE, "--register %s: too long", spec);
	char *eq = strchr(buf, '=');
	if (!eq) {
		die(EXIT_USAGE, "--register %s: expected REG=VALUE[:UNIT[:LEN]]", spec);
		return; /* for cppcheck, which does not know die */
	}
	*eq = '\0';
	char *value = eq + 1, *unit = strchr(value, ':'), *len = NULL;
	if (unit) {
		*unit++ = '\0';
		len = strchr(unit, ':');
		if (len)
			*len++ = '\0';
	}
	uint16_t id;
	if (kmp_register_parse(buf, &id) < 0)
		die(EXIT_USAGE, "--register %s: unknown register: %s", spec, buf);
	uint64_t m;
	bool neg;
	int e;
	if (parse_value(value, &m, &neg, &e) < 0)
		die(EXIT_USAGE, "--register %s: not a value: %s", spec, value);
	long n = 0;
	if (len && parse_long(len, 1, 8, &n) < 0)
		die(EXIT_USAGE, "--register %s: mantissa length must be 1 to 8", spec);
	struct sim_register *r = reg_slot(id);
	if (unit && *unit) {
		int code = parse_unit(unit);
		if (code < 0)
			die(EXIT_USAGE, "--register %s: unknown unit: %s", spec, unit);
		r->unit = (uint8_t)code;
	}
	int got = kmp_value_encode(m, neg, e, (int)n, &r->siex, r->mantissa);
	if (got < 0)
		die(EXIT_USAGE, "--register %s: %s does not fit %ld bytes", spec, value, n);
	r->len = (uint8_t)got;
	r->answered = true;
}

/* A realistic MULTICAL 403 on a winter day: the default set of kmpread
 * and a few more. */
static void default_registers(void)
{
	static const char *const defaults[] = {
		"energy=55006e-3:MWh", "power=12.3:0x16", "volume=1875.56:m3", "flow=312:l/h",
		"flow_temperature=53.65:C", "return_temperature=45.78:C", "temperature_difference=7.87:K",
		"operating_hours=7126:h", "info_code=0:0", "cooling_energy=0e-3:MWh", "volume_2=0.00:m3",
		"serial_number=19088743:0x33", "meter_time=200243:0x2F", "meter_date=261127:0x30",
		"energy_high_resolution=55006123:Wh", "info_event_counter=3:0x33",
	};
	for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
		set_register(defaults[i]);
}

static void drop_registers(char *list)
{
	char *items[MAX_REGS];
	int n = split_list(list, items, MAX_REGS);
	if (n < 0)
		die(EXIT_USAGE, "--drop: expected REG,REG,...");
	for (int i = 0; i < n; i++) {
		uint16_t id;
		if (kmp_register_parse(items[i], &id) < 0)
			die(EXIT_USAGE, "--drop: unknown register: %s", items[i]);
		reg_slot(id)->answered = false;
	}
}

/* ---- time ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000), (long)(t % 1000000000) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* ---- output ---- */

/* Sends bytes; when pacing, each one when its last stop bit would have
 * left a real line that began sending at `start`. */
static int send_bytes(int fd, const uint8_t *b, size_t n, int64_t start)
{
	if (!sim.pace)
		return write_all(fd, b, n, 5000);
	for (size_t i = 0; i < n; i++) {
		sleep_until_ns(start + (int64_t)(i + 1) * sim.byte_ns);
		if (write_all(fd, b + i, 1, 5000) < 0)
			return -1;
	}
	return 0;
}

/* Frames a reply; with a corruption pending, one CRC bit is flipped. */
static size_t build_reply(const uint8_t *payload, size_t n, uint8_t *out, size_t cap)
{
	uint8_t body[KMP_FRAME_MAX];
	uint16_t crc = crc16_xmodem(0, payload, n);
	if (sim.corrupt > 0) {
		sim.corrupt--;
		crc ^= 0x0100;
		if (sim.verbose)
			warnx("corrupting the CRC of this reply");
	}
	memcpy(body, payload, n);
	body[n] = (uint8_t)(crc >> 8);
	body[n + 1] = (uint8_t)crc;
	out[0] = KMP_START_REPLY;
	size_t len = kmp_stuff(body, n + 2, out + 1, cap - 2);
	if (!len)
		return 0;
	out[len + 1] = KMP_STOP;
	return len + 2;
}

/* The reply payload (DST CID DATA) to a request frame (DST..CRC); 0 when
 * a meter would not answer it. */
static size_t answer(const uint8_t *req, size_t n, uint8_t *out, char *what, size_t whatlen)
{
	size_t o = 0;
	out[o++] = KMP_DST_HEAT_METER;
	out[o++] = req[1];
	switch (req[1]) {
	case KMP_CID_GET_TYPE:
		snprintf(what, whatlen, "GetType");
		out[o++] = (uint8_t)(sim.type >> 8);
		out[o++] = (uint8_t)sim.type;
		out[o++] = (uint8_t)(sim.revision >> 8);
		out[o++] = (uint8_t)sim.revision;
		return o;
	case KMP_CID_GET_SERIAL:
		snprintf(what, whatlen, "GetSerialNo");
		for (int s = 24; s >= 0; s -= 8)
			out[o++] = (uint8_t)(sim.serial >> s);
		return o;
	case KMP_CID_GET_REGISTER: {
		int count = n >= 5 ? req[2] : -1;
		if (count < 1 || count > KMP_MAX_REGISTERS || n != 3 + 2 * (size_t)count + 2) {
			snprintf(what, whatlen, "GetRegister of a wrong length: not answered");
			return 0;
		}
		int w = snprintf(what, whatlen, "GetRegister");
		for (int i = 0; i < count; i++) {
			uint16_t id = (uint16_t)(req[3 + 2 * i] << 8 | req[4 + 2 * i]);
			if (w > 0 && (size_t)w < whatlen)
				w += snprintf(what + w, whatlen - (size_t)w, "%c%u", i ? ',' : ' ', id);
			for (int k = 0; k < sim.nregs; k++) {
				const struct sim_register *r = &sim.regs[k];
				if (r->id != id || !r->answered)
					continue;
				out[o++] = (uint8_t)(id >> 8);
				out[o++] = (uint8_t)id;
				out[o++] = r->unit;
				out[o++] = r->len;
				out[o++] = r->siex;
				memcpy(out + o, r->mantissa, r->len);
				o += r->len;
			}
		}
		return o;
	}
	default:
		snprintf(what, whatlen, "command 0x%02X: not answered", req[1]);
		return 0;
	}
}

static void serve_request(int fd, const struct kmp_rx *rx, int64_t arrived)
{
	sim.requests++;
	uint8_t raw[2 * KMP_FRAME_MAX + 2];
	size_t rawlen = 1 + kmp_stuff(rx->frame, rx->len, raw + 1, sizeof raw - 2);
	raw[0] = KMP_START_REQUEST;
	raw[rawlen++] = KMP_STOP;
	if (sim.echo)
		write_all(fd, raw, rawlen, 5000); /* the head reflects as the bytes go out */
	/* On a real line the request took its bytes' time to arrive. */
	int64_t start = arrived + (sim.pace ? (int64_t)rawlen * sim.byte_ns : 0) + sim.delay_ms * 1000000;
	char what[128];
	uint8_t payload[KMP_FRAME_MAX], reply[2 * KMP_FRAME_MAX + 4];
	size_t n = answer(rx->frame, rx->len, payload, what, sizeof what);
	if (sim.silent) {
		if (sim.verbose)
			warnx("request %lu: %s: silent, no answer", sim.requests, what);
		return;
	}
	size_t len = n ? build_reply(payload, n, reply, sizeof reply) : 0;
	if (sim.verbose)
		warnx("request %lu: %s: %zu reply bytes", sim.requests, what, len);
	if (!len)
		return;
	if (!sim.pace && sim.delay_ms)
		sleep_until_ns(start);
	if (send_bytes(fd, reply, len, start) < 0)
		warn_errno("request %lu: cannot send the reply", sim.requests);
	sim.answered_since_wake++;
	if (sim.sleep_after && sim.answered_since_wake >= sim.sleep_after) {
		sim.silent = true;
		if (sim.verbose)
			warnx("falling asleep after %ld answers", sim.answered_since_wake);
	}
}

/* ---- connections ---- */

struct conn {
	int fd;
	struct kmp_rx rx;
	int64_t frame_began;
};

/* Returns -1 when the peer has gone. */
static int serve_input(struct conn *c)
{
	uint8_t buf[512];
	ssize_t got = read(c->fd, buf, sizeof buf);
	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (got == 0)
		return -1;
	int64_t t = now_ns();
	for (ssize_t i = 0; i < got; i++) {
		if (c->rx.state == KMP_RX_HUNT)
			c->frame_began = t;
		enum kmp_rx_event ev = kmp_rx_byte(&c->rx, buf[i]);
		if (ev == KMP_RX_FRAME)
			serve_request(c->fd, &c->rx, c->frame_began);
		else if (ev == KMP_RX_ERROR && sim.verbose)
			warnx("bad request: %s", c->rx.why);
	}
	return 0;
}

static int open_pty(const char *link, int *keep_slave)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		die_errno(EXIT_RUNTIME, "cannot make a pseudo-terminal");
	const char *slave = ptsname(master);
	/* Holding the slave open keeps the master from reading EIO (a busy
	 * poll loop) whenever no reader has it open. */
	*keep_slave = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios t;
	if (*keep_slave < 0 || tcgetattr(*keep_slave, &t) < 0)
		die_errno(EXIT_RUNTIME, "%s", slave);
	cfmakeraw(&t);
	tcsetattr(*keep_slave, TCSANOW, &t);
	struct stat st;
	if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode))
		unlink(link);
	if (symlink(slave, link) < 0)
		die_errno(EXIT_RUNTIME, "cannot link %s", link);
	snprintf(sim.link, sizeof sim.link, "%s", link);
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	return master;
}

static int open_tty(const char *path)
{
	struct port p;
	char why[256];
	if (port_init(&p, path, &sim.line, why, sizeof why) < 0 || p.kind != PORT_SERIAL)
		die(EXIT_USAGE, "%s: not a tty, pty:LINK or tcp:PORT", path);
	if (port_open(&p) < 0)
		die(EXIT_RUNTIME, "%s: %s", path, p.why);
	return p.fd;
}

static int open_listener(const char *spec)
{
	char host[256] = "127.0.0.1";
	const char *portstr = spec;
	const char *colon = strrchr(spec, ':');
	if (colon) {
		size_t hl = (size_t)(colon - spec);
		if (hl == 0 || hl >= sizeof host) {
			die(EXIT_USAGE, "tcp:%s: expected tcp:[HOST:]PORT", spec);
			return -1; /* for cppcheck, which does not know die */
		}
		memcpy(host, spec, hl);
		host[hl] = '\0';
		portstr = colon + 1;
	}
	long port;
	if (parse_long(portstr, 1, 65535, &port) < 0)
		die(EXIT_USAGE, "tcp:%s: expected a port from 1 to 65535", spec);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc)
		die(EXIT_RUNTIME, "tcp:%s: %s", spec, gai_strerror(rc));
	int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4) < 0)
		die_errno(EXIT_RUNTIME, "tcp:%s", spec);
	freeaddrinfo(res);
	return fd;
}

static void handle_signals(void)
{
	if (got_usr1) {
		got_usr1 = 0;
		sim.silent = !sim.silent;
		sim.answered_since_wake = 0;
		if (sim.verbose)
			warnx("SIGUSR1: %s", sim.silent ? "silent" : "answering");
	}
	if (got_term) {
		if (sim.link[0])
			unlink(sim.link);
		exit(EXIT_OK);
	}
}

static void run(const char *target)
{
	struct conn conns[MAX_CLIENTS + 1];
	int nconns = 0, listener = -1, keep_slave = -1;
	if (strncmp(target, "pty:", 4) == 0) {
		conns[nconns++].fd = open_pty(target + 4, &keep_slave);
	} else if (strncmp(target, "tcp:", 4) == 0) {
		listener = open_listener(target + 4);
	} else {
		conns[nconns++].fd = open_tty(target);
	}
	for (int i = 0; i < nconns; i++)
		kmp_rx_init(&conns[i].rx, KMP_START_REQUEST);
	sigset_t blocked, orig;
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGHUP);
	sigprocmask(SIG_BLOCK, &blocked, &orig);
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct pollfd pfd[MAX_CLIENTS + 2];
		int n = 0;
		for (int i = 0; i < nconns; i++)
			pfd[n++] = (struct pollfd){ conns[i].fd, POLLIN, 0 };
		if (listener >= 0)
			pfd[n++] = (struct pollfd){ listener, POLLIN, 0 };
		/* Signals get through only here, so none breaks a reply. */
		int r = ppoll(pfd, (nfds_t)n, NULL, &orig);
		handle_signals();
		if (r <= 0)
			continue;
		for (int i = nconns - 1; i >= 0; i--) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) || serve_input(&conns[i]) == 0)
				continue;
			if (listener < 0)
				die(EXIT_RUNTIME, "%s: the line has gone", target);
			close(conns[i].fd);
			conns[i] = conns[--nconns];
		}
		if (listener >= 0 && (pfd[n - 1].revents & POLLIN)) {
			int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0 && nconns == MAX_CLIENTS) {
				close(fd);
			} else if (fd >= 0) {
				conns[nconns].fd = fd;
				kmp_rx_init(&conns[nconns++].rx, KMP_START_REQUEST);
			}
		}
	}
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	enum { O_PACE = 256, O_DELAY, O_ECHO, O_SILENT, O_CORRUPT, O_SLEEP, O_DROP, O_SERIALNO, O_TYPE, O_REV, O_VERSION };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },   { "serial", required_argument, NULL, 's' },
		{ "register", required_argument, NULL, 'r' }, { "set", required_argument, NULL, 'r' },
		{ "pace", no_argument, NULL, O_PACE },        { "delay", required_argument, NULL, O_DELAY },
		{ "echo", no_argument, NULL, O_ECHO },        { "silent", no_argument, NULL, O_SILENT },
		{ "corrupt", required_argument, NULL, O_CORRUPT }, { "sleep-after", required_argument, NULL, O_SLEEP },
		{ "drop", required_argument, NULL, O_DROP },  { "serial-number", required_argument, NULL, O_SERIALNO },
		{ "meter-type", required_argument, NULL, O_TYPE }, { "revision", required_argument, NULL, O_REV },
		{ "verbose", no_argument, NULL, 'v' },        { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },  { 0, 0, 0, 0 },
	};
	default_registers();
	const char *target = NULL;
	int c;
	long n;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:s:r:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': target = optarg; break;
		case 's': {
			const char *colon = strchr(optarg, ':');
			struct serial_params p;
			if (serial_params_parse(optarg, &p) < 0)
				die(EXIT_USAGE, "-s %s: expected BAUD or BAUD:8N2", optarg);
			if (!colon) { /* a bare rate keeps KMP's 8N2 */
				p.data_bits = 8;
				p.parity = 'N';
				p.stop_bits = 2;
			}
			sim.line = p;
			break;
		}
		case 'r': set_register(optarg); break;
		case O_DROP: drop_registers(optarg); break;
		case O_PACE: sim.pace = true; break;
		case O_ECHO: sim.echo = true; break;
		case O_SILENT: sim.silent = true; break;
		case 'v': sim.verbose = true; break;
		case O_DELAY:
			if (parse_long(optarg, 0, 60000, &sim.delay_ms) < 0)
				die(EXIT_USAGE, "--delay %s: expected milliseconds, 0 to 60000", optarg);
			break;
		case O_CORRUPT:
			if (parse_long(optarg, 0, 1000000, &sim.corrupt) < 0)
				die(EXIT_USAGE, "--corrupt %s: expected a count", optarg);
			break;
		case O_SLEEP:
			if (parse_long(optarg, 0, 1000000, &sim.sleep_after) < 0)
				die(EXIT_USAGE, "--sleep-after %s: expected a count", optarg);
			break;
		case O_SERIALNO:
			if (parse_long(optarg, 0, 4294967295L, &n) < 0)
				die(EXIT_USAGE, "--serial-number %s: expected 0 to 4294967295", optarg);
			sim.serial = (uint32_t)n;
			break;
		case O_TYPE: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 0);
			if (*end || end == optarg || v > 0xFFFF)
				die(EXIT_USAGE, "--meter-type %s: expected 0 to 0xFFFF", optarg);
			sim.type = (uint16_t)v;
			break;
		}
		case O_REV:
			if (optarg[0] < 'A' || optarg[0] > 'Z' || parse_long(optarg + 1, 0, 255, &n) < 0)
				die(EXIT_USAGE, "--revision %s: expected a letter and a number, such as F1", optarg);
			sim.revision = (uint16_t)((optarg[0] - 'A' + 1) << 8 | n);
			break;
		case O_VERSION: print_version(argc);
		case 'h': fputs(usage_text, stdout); exit_listed();
		default: usage_bad_option(usage_text, c, argv);
		}
	}
	if (!target && optind < argc)
		target = argv[optind++];
	if (!target)
		usage_die(usage_text, "no port: give -o PORT or a port argument");
	if (optind != argc)
		usage_die(usage_text, "unexpected argument: %s", argv[optind]);
	int bits = 1 + sim.line.data_bits + (sim.line.parity != 'N') + sim.line.stop_bits;
	sim.byte_ns = (int64_t)bits * 1000000000 / sim.line.baud;
	run(target);
}
