/*
 * upcallctl - talk to a running upcalld over its control socket.
 *
 *   upcallctl [-s SOCKET] [--json] COMMAND [ARGS]
 *     status                      counters per guest and per alert sink
 *     guests                      watched guests and their state
 *     reload                      reload rules (a bad set keeps the old one)
 *     check GUEST                 run the guest's interval rules now
 *     validate [PATH...]          check rule files without loading them
 *     ps GUEST [--memory|--guest|--diff]
 *     lsmod GUEST [--memory|--guest|--diff]
 *     lsof GUEST [PID] [--memory|--guest|--diff]
 *
 * --memory reads guest memory (the default), --guest asks the guest's agent,
 * --diff does both and prints only the disagreement (the cross-check).
 */
#include <getopt.h>
#include <stdbool.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define DEFAULT_SOCKET "/run/upcalld/upcalld.sock"

/* Columns of a table: JSON key, header, width (negative: left-aligned). */
struct col {
	const char *key, *head;
	int width;
};

static const struct col ps_cols[] = {
	{ "pid", "PID", 7 }, { "ppid", "PPID", 7 }, { "uid", "UID", 6 },
	{ "comm", "COMMAND", -16 }, { NULL, NULL, 0 } };
static const struct col mod_cols[] = {
	{ "name", "MODULE", -24 }, { "size", "SIZE", 10 }, { NULL, NULL, 0 } };
static const struct col file_cols[] = {
	{ "pid", "PID", 7 }, { "fd", "FD", 5 }, { "path", "PATH", -1 },
	{ NULL, NULL, 0 } };
static const struct col finding_cols[] = {
	{ "kind", "KIND", -9 }, { "object", "OBJECT", -8 }, { "pid", "PID", 7 },
	{ "fd", "FD", 4 }, { "name", "NAME", -16 }, { "detail", "DETAIL", -1 },
	{ NULL, NULL, 0 } };
static const struct col guest_cols[] = {
	{ "name", "GUEST", -16 }, { "backend", "BACKEND", -8 },
	{ "domid", "DOM", 5 }, { "state", "STATE", -10 }, { "events", "EVENTS", 8 },
	{ "upcalls", "UPCALLS", 8 }, { "upcall_failures", "FAILED", 7 },
	{ "findings", "FINDINGS", 9 }, { "alerts", "ALERTS", 7 },
	{ "error", "LAST ERROR", -1 }, { NULL, NULL, 0 } };
static const struct col sink_cols[] = {
	{ "name", "SINK", -10 }, { "sent", "SENT", 8 }, { "queued", "QUEUED", 7 },
	{ "dropped", "DROPPED", 8 }, { "errors", "ERRORS", 7 },
	{ NULL, NULL, 0 } };

/*
 * Guest names, paths and details are the guest's text: control bytes
 * (C0, DEL, and C1 as UTF-8 encodes them) would reach the operator's
 * terminal as escape sequences. Show them as \xNN instead.
 */
static const char *term_safe(const char *s, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	for (; *p && o + 5 < len; p++) {
		bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;

		if (*p < 0x20 || *p == 0x7f || c1) {
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c1 ? p[1] : *p);
			p += c1;
		} else {
			buf[o++] = (char)*p;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void print_table(struct json_object *arr, const struct col *cols)
{
	size_t i, n = json_object_array_length(arr);
	const struct col *c;

	for (c = cols; c->key; c++)
		printf("%*s ", c->width, c->head);
	putchar('\n');
	for (i = 0; i < n; i++) {
		struct json_object *row = json_object_array_get_idx(arr, i), *v;

		for (c = cols; c->key; c++) {
			const char *s = json_object_object_get_ex(row, c->key, &v) && v
					? json_object_get_string(v) : "-";
			char safe[4096];

			printf("%*s ", c->width, term_safe(s, safe, sizeof(safe)));
		}
		putchar('\n');
	}
}

static void print_section(struct json_object *reply, const char *key,
			  const struct col *cols)
{
	struct json_object *arr;

	if (json_object_object_get_ex(reply, key, &arr) &&
	    json_object_is_type(arr, json_type_array))
		print_table(arr, cols);
}

static void print_status(struct json_object *r)
{
	struct json_object *v;

	if (json_object_object_get_ex(r, "version", &v))
		printf("upcalld %s", json_object_get_string(v));
	if (json_object_object_get_ex(r, "uptime_s", &v))
		printf(", up %s s", json_object_get_string(v));
	if (json_object_object_get_ex(r, "rules", &v))
		printf(", rules %s", json_object_get_string(v));
	putchar('\n');
	if (json_object_object_get_ex(r, "last_reload_error", &v) && v)
		printf("last reload failed: %s\n", json_object_get_string(v));
	print_section(r, "guests", guest_cols);
	print_section(r, "sinks", sink_cols);
}

static void print_reply(const char *cmd, struct json_object *r)
{
	struct json_object *v;

	if (!strcmp(cmd, "status")) {
		print_status(r);
		return;
	}
	if (!strcmp(cmd, "guests")) {
		print_section(r, "guests", guest_cols);
		return;
	}
	char safe[4096];

	if (json_object_object_get_ex(r, "message", &v))
		printf("%s\n", term_safe(json_object_get_string(v), safe, sizeof(safe)));
	if (json_object_object_get_ex(r, "errors", &v) &&
	    json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			printf("%s\n", term_safe(json_object_get_string(
					json_object_array_get_idx(v, i)), safe, sizeof(safe)));
	}
	print_section(r, "processes", ps_cols);
	print_section(r, "modules", mod_cols);
	print_section(r, "files", file_cols);
	print_section(r, "findings", finding_cols);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: upcallctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
		   "  status | guests | reload | validate [PATH...] | check GUEST\n"
		   "  ps GUEST | lsmod GUEST | lsof GUEST [PID]"
		   "   [--memory | --guest | --diff]\n");
}

/* Build the request from the command line; NULL on a usage error. */
static struct json_object *build_request(int argc, char **argv,
					 const char *source)
{
	struct json_object *req = json_object_new_object(), *paths;
	const char *cmd = argv[0];
	int i;

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	if (!strcmp(cmd, "ps") || !strcmp(cmd, "lsmod") || !strcmp(cmd, "lsof")) {
		if (argc < 2)
			goto out_usage;
		json_object_object_add(req, "guest", json_object_new_string(argv[1]));
		json_object_object_add(req, "source", json_object_new_string(source));
		if (!strcmp(cmd, "lsof") && argc > 2)
			json_object_object_add(req, "pid",
					       json_object_new_int(atoi(argv[2])));
	} else if (!strcmp(cmd, "check")) {
		if (argc < 2)
			goto out_usage;
		json_object_object_add(req, "guest", json_object_new_string(argv[1]));
	} else if (!strcmp(cmd, "validate")) {
		paths = json_object_new_array();
		for (i = 1; i < argc; i++)
			json_object_array_add(paths, json_object_new_string(argv[i]));
		json_object_object_add(req, "paths", paths);
	} else if (strcmp(cmd, "status") && strcmp(cmd, "guests") &&
		   strcmp(cmd, "reload")) {
		goto out_usage;
	}
	return req;
out_usage:
	json_object_put(req);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "memory", no_argument, NULL, 'm' },
		{ "guest", no_argument, NULL, 'g' },
		{ "diff", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	const char *sock = getenv("UPCALLD_SOCKET"), *source = "memory";
	struct json_object *req, *reply = NULL, *ok;
	int c, json = 0, rc;

	if (!sock)
		sock = DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'j': json = 1; break;
		case 'm': source = "memory"; break;
		case 'g': source = "guest"; break;
		case 'd': source = "diff"; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* Options may also follow the command: rescan what is left. */
	argc -= optind;
	argv += optind;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		int drop = 1;

		if (!strcmp(a, "--memory")) source = "memory";
		else if (!strcmp(a, "--guest")) source = "guest";
		else if (!strcmp(a, "--diff")) source = "diff";
		else if (!strcmp(a, "--json")) json = 1;
		else drop = 0;
		if (drop) {
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i - 1) * sizeof(*argv));
			argc--;
			i--;
		}
	}
	if (argc < 1 || !(req = build_request(argc, argv, source))) {
		usage(stderr);
		return 2;
	}
	rc = ctl_call(sock, req, 30000, &reply);
	json_object_put(req);
	if (rc) {
		fprintf(stderr, "upcallctl: %s: %s\n", sock, strerror(-rc));
		return 1;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	else if (json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok))
		print_reply(argv[0], reply);
	rc = json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok);
	if (!rc) {
		struct json_object *e;

		if (json_object_object_get_ex(reply, "error", &e))
		{
			char safe[4096];

			fprintf(stderr, "upcallctl: %s\n",
				term_safe(json_object_get_string(e), safe, sizeof(safe)));
		}
		print_reply(argv[0], reply);
	}
	json_object_put(reply);
	return rc ? 0 : 1;
}
