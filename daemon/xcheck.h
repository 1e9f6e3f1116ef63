/*
 * xcheck.h - cross-view checks: what the guest says against what its
 * memory says.
 *
 * Inputs are normalized views, so this module knows neither the wire format
 * nor guest memory. Two memory snapshots bracket the guest's answer: m1 is
 * taken while the vCPU is paused before the upcall, m2 after the answer.
 * Only what disagrees with BOTH snapshots is reported, so a process that
 * started or exited during the upcall is never a finding:
 *
 *   hidden   - in m1 and in m2 (same identity), missing from the answer
 *   phantom  - in the answer, in neither m1 nor m2
 *   mismatch - same object in m1, m2 and the answer; m1 and m2 agree on an
 *              attribute and the answer differs from them
 *
 * Ownership: inputs are borrowed and not modified; xcheck_result owns its
 * findings (copies) until xcheck_result_release().
 */
#ifndef UPCALLD_XCHECK_H
#define UPCALLD_XCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XCHECK_COMM_LEN 16
#define XCHECK_NAME_LEN 64
#define XCHECK_DETAIL_LEN 256
#define XCHECK_ITEMS_MAX (1u << 20)	/* cap on any input view */
#define XCHECK_FINDINGS_MAX 4096u	/* beyond this, count but do not store */

enum xcheck_kind { XCHECK_HIDDEN = 1, XCHECK_PHANTOM, XCHECK_MISMATCH };
enum xcheck_object { XCHECK_PROCESS = 1, XCHECK_MODULE, XCHECK_FILE };

struct xcheck_proc {
	int32_t pid, ppid;
	uint32_t uid;
	uint64_t start_ns;		/* since boot; 0 = unknown */
	char comm[XCHECK_COMM_LEN];	/* NUL-terminated */
	uint64_t activity;		/* memory only (lnx_task.activity), 0 unknown;
					 * not compared here */
};

struct xcheck_module {
	char name[XCHECK_NAME_LEN];	/* NUL-terminated */
	uint64_t size;			/* 0 = unknown */
};

struct xcheck_file {
	int32_t pid, fd;
	const char *path;		/* borrowed, NUL-terminated */
};

struct xcheck_finding {
	enum xcheck_kind kind;
	enum xcheck_object object;
	int32_t pid;			/* process, file: the pid; else -1 */
	int32_t fd;			/* file: the fd; else -1 */
	char name[XCHECK_NAME_LEN];	/* comm or module name */
	char attr[16];			/* mismatch: which attribute */
	char detail[XCHECK_DETAIL_LEN];	/* human-readable, e.g. memory vs answer */
};

struct xcheck_result {
	struct xcheck_finding *v;
	size_t n;			/* stored findings */
	size_t total;			/* all findings, stored or not */
};

struct xcheck_opts {
	/*
	 * Start times from the agent come in clock ticks: two start times
	 * closer than this are the same process. 0 disables the comparison
	 * (a pid is then its own identity).
	 */
	uint64_t start_tolerance_ns;
	bool compare_uid;
	bool compare_ppid;
};

/* Defaults: 20 ms tolerance (two USER_HZ ticks), compare uid and ppid. */
void xcheck_opts_init(struct xcheck_opts *o);

/*
 * Each returns 0 (findings, if any, in *out), -E2BIG if an input exceeds
 * XCHECK_ITEMS_MAX, -ENOMEM. *out is initialized by the call.
 */
int xcheck_procs(const struct xcheck_opts *o,
		 const struct xcheck_proc *m1, size_t n1,
		 const struct xcheck_proc *m2, size_t n2,
		 const struct xcheck_proc *ans, size_t nans,
		 struct xcheck_result *out);

int xcheck_modules(const struct xcheck_module *m1, size_t n1,
		   const struct xcheck_module *m2, size_t n2,
		   const struct xcheck_module *ans, size_t nans,
		   struct xcheck_result *out);

/*
 * Files are compared only for pids the answer covers (answered_pids,
 * sorted or not); a pid the agent did not report on is no evidence.
 * Pass answered_pids = NULL to treat every pid as covered.
 */
int xcheck_files(const struct xcheck_file *m1, size_t n1,
		 const struct xcheck_file *m2, size_t n2,
		 const struct xcheck_file *ans, size_t nans,
		 const int32_t *answered_pids, size_t npids,
		 struct xcheck_result *out);

void xcheck_result_release(struct xcheck_result *r);

const char *xcheck_kind_str(enum xcheck_kind k);
const char *xcheck_object_str(enum xcheck_object o);

#endif
