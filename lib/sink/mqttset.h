/* mqttset.h: the MQTT connection settings, one structure for mqttpub's
 * options and for config.yaml's mqtt: section.  No libmosquitto here. */
#ifndef M2M_MQTTSET_H
#define M2M_MQTTSET_H

#include <stdbool.h>

/* The protocol levels of MQTT 3.1.1 and 5, as CONNECT carries them. */
enum { MQTT_V311 = 4, MQTT_V5 = 5 };

struct mqtt_settings {
	const char *host;     /* NULL: localhost */
	int port;             /* 0: 1883, or 8883 with TLS */
	const char *client_id; /* NULL: m2m-DEVICE-HASH */
	int keepalive;        /* seconds */
	int protocol;         /* MQTT_V311 or MQTT_V5 */
	int qos;
	bool retain;
	const char *username, *password;
	const char *cafile, *capath, *cert, *key, *tls_version;
	bool tls, insecure;
};

#endif
