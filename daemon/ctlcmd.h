/*
 * ctlcmd.h - what the control socket's commands do: status and counters,
 * guests, reload, validate, and live views of a guest (ps, lsmod, lsof)
 * from memory, from the guest, or their difference. Reply formats are
 * those upcallctl prints.
 */
#ifndef UPCALLD_CTLCMD_H
#define UPCALLD_CTLCMD_H

#include <stdint.h>

#include "ctl.h"

/* The ctl_request_fn of the daemon; ctx is the struct upcalld. */
void ctlcmd_request(void *ctx, struct ctl *c, uint64_t client,
		    struct json_object *req);

#endif
