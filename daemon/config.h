/*
 * config.h - the daemon's configuration (/etc/upcalld/upcalld.yaml): which
 * guests to watch and how to reach them, where the rules are, where alerts
 * go, the control socket, default rate limits and the watchdog. YAML with
 * the rule loader's strictness: unknown and duplicate keys are errors and
 * every error says file:line:column. etc/upcalld.yaml documents each key.
 *
 * Relative paths in the file are taken relative to the file's directory.
 *
 * Ownership: config_load() returns a struct config owning every string in
 * it; config_free() frees it all. Errors go to a caller-owned rule_errors.
 */
#ifndef UPCALLD_CONFIG_H
#define UPCALLD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rule.h"

struct rule_arena;

#define CONFIG_PATH_DEFAULT "/etc/upcalld/upcalld.yaml"
#define CONFIG_SOCKET_DEFAULT "/run/upcalld/upcalld.sock"
#define CONFIG_UPCALL_TIMEOUT_DEFAULT_MS 2000
#define CONFIG_UPCALL_TIMEOUT_MAX_MS 60000
#define CONFIG_GUESTS_MAX 4096
#define CONFIG_OUTPUTS_MAX 64
#define CONFIG_RULE_DIRS_MAX 64

enum config_backend {
	CONFIG_BACKEND_XEN = 1,
	CONFIG_BACKEND_QEMU,
};

/* One "guests:" entry. The first entry whose match glob fits a guest wins. */
struct config_guest {
	const char *match;		/* glob on the guest's name */
	enum config_backend backend;
	const char *profiles;		/* directory of kernel profiles */
	const char *key_dir;		/* per-guest HMAC keys, or NULL */
	/* qemu only: templates, %n = guest name (config_expand) */
	const char *ram;		/* shared RAM file */
	const char *gdb;		/* gdbstub unix socket */
	const char *upcall;		/* virtio-serial chardev socket, or NULL */
	uint64_t upcall_timeout_ms;
	bool debugreg_bps;		/* xen: breakpoints in debug registers */
	unsigned int line, col;
};

enum config_output_kind {
	CONFIG_OUT_SYSLOG = 1,
	CONFIG_OUT_JSON,
	CONFIG_OUT_CEF,
	CONFIG_OUT_TLS,
};

enum config_syslog_format {
	CONFIG_RFC5424 = 0,
	CONFIG_RFC3164,
};

struct config_output {
	enum config_output_kind kind;
	enum rule_priority min_priority;	/* send alerts at least this severe */
	const char *path;	/* json/cef: file ("-" = stdout); syslog: socket */
	const char *host;	/* syslog over UDP, tls */
	uint16_t port;
	int facility;		/* syslog facility number (daemon = 3) */
	enum config_syslog_format format;
	bool via_syslog;	/* cef: through the syslog output, not a file */
	const char *ca, *cert, *key;	/* tls */
	bool verify;		/* tls: verify the server (default true) */
	unsigned int line, col;
};

struct config {
	const char *path;		/* the file loaded */
	struct config_guest *guests;
	size_t nguests;
	const char **rule_paths;	/* directories or files, in order */
	size_t nrule_paths;
	struct config_output *outputs;
	size_t noutputs;
	const char *control_socket;
	struct rule_rate rate;		/* default per-rule rate; count 0 = none */
	uint32_t burst;			/* alerts let through before limiting */
	uint64_t dedup_ms;		/* 0 = no deduplication */
	bool watchdog;			/* ping systemd's watchdog if it asks */
	struct rule_arena *arena;	/* owns the strings */
};

/*
 * Load and validate. Returns 0 and *out, or -EINVAL with every error found
 * (up to the cap) in errs, -ENOENT if the file is missing, -ENOMEM. Nothing
 * is allocated on failure. Warnings (e.g. TLS without verification) are
 * added to errs without failing.
 */
int config_load(const char *path, struct config **out, struct rule_errors *errs);
/* The same from text; base_dir anchors relative paths (NULL = "."). */
int config_load_buf(const char *name, const char *buf, size_t len,
		    const char *base_dir, struct config **out,
		    struct rule_errors *errs);
void config_free(struct config *c);

/* The entry for a guest name, or NULL when no match glob fits. */
const struct config_guest *config_guest_find(const struct config *c,
					     const char *name);

/*
 * Expand a path template: %n becomes name, %% a percent sign. Returns the
 * length, -ENOSPC if buf is too small, -EINVAL for a name with '/' or a
 * name of "." or "..".
 */
int config_expand(const char *tmpl, const char *name, char *buf, size_t len);

const char *config_backend_name(enum config_backend b);
/* What a backend can offer at best (hv.h HV_CAP_*), for --check. */
unsigned int config_backend_caps(enum config_backend b);

/*
 * upcalld --check: load the configuration and its rules, check the rules
 * against each configured backend, print every error and a summary to out.
 * Returns 0 when all is well, else -EINVAL (or -ENOMEM).
 */
int config_check(const char *path, FILE *out);

#endif
