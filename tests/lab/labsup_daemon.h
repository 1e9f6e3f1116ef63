/*
 * labsup_daemon.h - the daemon side of lab tests: run build/upcalld as a
 * real process against a lab guest (its own work directory with a config,
 * a copy of the default rule pack, the guest's key, a JSON alert sink and
 * a control socket), talk to it with ctl_call, and read its alerts back
 * from the JSON sink file.
 *
 * Ownership: struct labd owns its work directory (removed by labd_free
 * unless UPCALLD_LAB_KEEP is set) and the daemon process it started.
 * Alerts returned as json_object are the caller's (json_object_put).
 */
#ifndef UPCALLD_LABSUP_DAEMON_H
#define UPCALLD_LABSUP_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "labsup.h"

struct json_object;

struct labd {
	char root[LAB_PATH_MAX];	/* source tree (rules/) */
	char build[LAB_PATH_MAX];	/* build/ (upcalld) */
	char dir[64];			/* work directory (/tmp/upcalld-labd-*) */
	char conf[LAB_PATH_MAX];	/* upcalld.yaml */
	char rules[LAB_PATH_MAX];	/* copy of the default rule pack */
	char alerts[LAB_PATH_MAX];	/* JSON lines sink */
	char sock[LAB_PATH_MAX];	/* control socket */
	char log[LAB_PATH_MAX];		/* upcalld -v stderr */
	char guest[64];			/* the watched guest's name */
	pid_t pid;			/* the daemon, 0 when not running */
};

/* Extra settings for the config. */
struct labd_opts {
	int upcall_timeout_s;		/* 10 if 0 */
	const char *outputs;		/* YAML lines added under outputs: */
};

/*
 * Make the work directory, copy the default rule pack (the YAML files of
 * rules/) and the guest's key into it, and write the config for guest g.
 * -errno.
 */
int labd_init(struct labd *d, const struct lab_guest *g, const struct labd_opts *o);

/*
 * Start build/upcalld (or $UPCALLD_LAB_DAEMON) -v -c CONFIG and wait (up to timeout_ms) until the
 * control socket answers and the guest's agent has answered a live "ps".
 */
int labd_start(struct labd *d, int timeout_ms);

/* SIGTERM, then SIGKILL after 5 s; reaps. Safe when not running. */
void labd_stop(struct labd *d);

/* labd_stop and remove the work directory (kept if UPCALLD_LAB_KEEP). */
void labd_free(struct labd *d);

/*
 * One control request: {"cmd": cmd, "guest": guest (if not NULL)} plus
 * extra (a JSON object text whose members are added, or NULL). 0 and
 * *reply (caller puts), or -errno.
 */
int labd_call(struct labd *d, const char *cmd, const char *guest,
	      const char *extra, struct json_object **reply);

/* Number of complete alert lines in the sink so far. */
size_t labd_nalerts(const struct labd *d);

/* Alert line i (0-based), parsed; NULL if there is none. */
struct json_object *labd_alert(const struct labd *d, size_t i);

/* Predicate over one parsed alert. */
typedef bool labd_match_fn(struct json_object *alert, void *arg);

/*
 * Wait up to timeout_ms for an alert at line index >= from that matches.
 * When recheck is set, "check GUEST" is sent at once and again every
 * recheck_ms while waiting (a scan already in flight makes the daemon
 * skip one). Returns the alert (caller puts) or NULL.
 */
struct json_object *labd_wait_alert(struct labd *d, size_t from,
				    labd_match_fn *match, void *arg,
				    int timeout_ms, bool recheck, int recheck_ms);

/*
 * What an alert must say (labd_want_match): each set field must equal the
 * alert's (rule.name, upcalld.xcheck.kind, upcalld.xcheck.object,
 * process.pid, process.name, file.path, upcalld.module.name, upcalld.fd).
 */
struct labd_want {
	const char *rule, *xkind, *xobject, *comm, *path, *module;
	long long pid;			/* 0: any */
	bool has_fd;
	int fd;
};
bool labd_want_match(struct json_object *alert, void *want);

/* Is the alert a cross-check finding (hidden, phantom or mismatch)? */
bool labd_is_xcheck(struct json_object *alert);

/* A member by dotted path ("process.pid"), or NULL. Borrowed. */
struct json_object *labd_get(struct json_object *o, const char *path);
/* Its string value, or "" when absent. */
const char *labd_str(struct json_object *o, const char *path);
/* Its integer value, or -1 when absent. */
long long labd_int(struct json_object *o, const char *path);

/* The last lines of the daemon's log, on stderr (for failures). */
void labd_dump_log(const struct labd *d, int lines);

/*
 * Run cmd in the guest through the ground-truth shell and fail the current
 * Check test unless it exits 0. labd_gt returns its output (caller frees);
 * labd_gt_int the output read as a number.
 */
char *labd_gt(struct lab_guest *g, const char *cmd, int timeout_ms);
int labd_gt_int(struct lab_guest *g, const char *cmd, int timeout_ms);

#endif
