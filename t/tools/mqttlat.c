/* mqttlat: publish latency of mqttpub, for t/bench/mqttpub.
 *
 *   mqttlat PORT COUNT INTERVAL_MS mqttpub [ARGS...]
 *
 * Starts the given mqttpub command with a pipe as its stdin, subscribes to
 * lat/t/d/seq on 127.0.0.1:PORT, writes COUNT reading lines (one value,
 * the sequence number) every INTERVAL_MS, and times each from the write of
 * the line to the arrival of its message.  Prints p50, p99 and max in ms. */
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double *sent, *latency;
static int count;
static volatile int received, subscribed;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m, (void)obj;
	double t = now_ms();
	char buf[32];
	int n = msg->payloadlen < 31 ? msg->payloadlen : 31;
	memcpy(buf, msg->payload, (size_t)n);
	buf[n] = '\0';
	int seq = atoi(buf);
	if (seq >= 1 && seq <= count && latency[seq - 1] < 0) {
		latency[seq - 1] = t - sent[seq - 1];
		received++;
	}
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *qos)
{
	(void)m, (void)obj, (void)mid, (void)n, (void)qos;
	subscribed = 1;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: mqttlat PORT COUNT INTERVAL_MS mqttpub [ARGS...]\n");
		return 2;
	}
	int port = atoi(argv[1]);
	count = atoi(argv[2]);
	int interval = atoi(argv[3]);
	sent = calloc((size_t)count, sizeof *sent);
	latency = malloc((size_t)count * sizeof *latency);
	for (int i = 0; i < count; i++)
		latency[i] = -1;

	mosquitto_lib_init();
	struct mosquitto *m = mosquitto_new(NULL, true, NULL);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "mqttlat: cannot connect to port %d\n", port);
		return 1;
	}
	mosquitto_subscribe(m, NULL, "lat/t/d/seq", 0);
	mosquitto_loop_start(m);
	while (!subscribed)
		usleep(1000);

	int fds[2];
	if (pipe(fds) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[0], 0);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[4], argv + 4);
		_exit(127);
	}
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	sleep(1); /* let it connect: latency, not connection time */

	double next = now_ms();
	for (int i = 0; i < count; i++) {
		char line[128];
		int n = snprintf(line, sizeof line, "{\"type\":\"t\",\"device\":\"d\",\"values\":{\"seq\":{\"value\":%d}}}\n",
		                 i + 1);
		sent[i] = now_ms();
		if (write(fds[1], line, (size_t)n) != n)
			break;
		next += interval;
		double wait = next - now_ms();
		if (wait > 0)
			usleep((useconds_t)(wait * 1000));
	}
	for (int i = 0; i < 200 && received < count; i++)
		usleep(10000);
	close(fds[1]);
	waitpid(pid, NULL, 0);
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);

	int n = 0;
	for (int i = 0; i < count; i++)
		if (latency[i] >= 0)
			latency[n++] = latency[i];
	if (n == 0) {
		printf("no message received\n");
		return 1;
	}
	qsort(latency, (size_t)n, sizeof *latency, cmp);
	printf("%d/%d received  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", n, count, latency[n / 2],
	       latency[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1], latency[n - 1]);
	return 0;
}
