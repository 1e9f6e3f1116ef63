/*
 * xen_state.h - the xen backend's state file, free of libxc so unit tests
 * can feed it hostile contents: what a killed daemon left in the guest
 * (int3 bytes, armed debug registers, a pause), written by one attach and
 * read by the next (xen.c keeps it at XEN_STATE_DIR/xen-dom<id>.bps).
 */
#ifndef UPCALLD_XEN_STATE_H
#define UPCALLD_XEN_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "xen_bp.h"

/*
 * Format, one entry a line:
 *
 *   upcalld-xen-state dom <id>
 *   paused                      (we held a pause)
 *   int3 <gpa hex> <byte hex>   (an int3 replaced that byte)
 *   dr <slot> <addr hex>        (DR<slot> armed at addr on every vCPU)
 *
 * Files without the first line (an older daemon's: "paused", "<gpa> <byte>"
 * lines) are still read.
 */
#define XEN_STATE_MAX 8192u	/* bytes; larger files are not ours */

struct xen_state {
	bool paused;
	unsigned int n_int3, n_dr;
	struct { gpa_t gpa; uint8_t orig; } int3[XEN_BPS_MAX];
	struct { unsigned int slot; gva_t addr; } dr[XEN_DR_SLOTS];
};

/*
 * Parse a state file's text for domain domid. -EFBIG past XEN_STATE_MAX,
 * -EXDEV when the header names another domain, -EINVAL for anything
 * malformed (a file we did not write is not acted on at all), -ENOSPC for
 * more entries than we could ever have written.
 */
int xen_state_parse(const char *text, size_t len, unsigned int domid,
		    struct xen_state *st);

/*
 * The state text for bps (+ paused) into buf. Returns the length, or
 * -ENOSPC when buf is too small (a caller's bug, not truncated output).
 */
int xen_state_format(const struct xen_bps *bps, bool paused, unsigned int domid,
		     char *buf, size_t size);

#endif
