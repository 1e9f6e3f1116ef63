/*
 * hv.c - helpers shared by every hypervisor backend.
 */
#include "hv.h"

#include <stdio.h>
#include <string.h>

static const struct {
	unsigned int bit;
	const char *name;
} cap_names[] = {
	{ HV_CAP_MEM, "mem" },
	{ HV_CAP_REGS, "regs" },
	{ HV_CAP_PAUSE, "pause" },
	{ HV_CAP_BREAKPOINT, "bp" },
	{ HV_CAP_CR3_EVENT, "cr3" },
	{ HV_CAP_CR3_APPROX, "cr3-approx" },
	{ HV_CAP_BP_INVISIBLE, "bp-invisible" },
};

/*
 * Names in a fixed order, comma-separated; unknown bits as "0x..". A buffer
 * too small gets a truncated but terminated string.
 */
const char *hv_caps_str(unsigned int caps, char *buf, size_t len)
{
	size_t o = 0;
	unsigned int known = 0;

	if (!buf || len == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		known |= cap_names[i].bit;
		if (!(caps & cap_names[i].bit))
			continue;
		int n = snprintf(buf + o, len - o, "%s%s", o ? "," : "",
				 cap_names[i].name);
		if (n < 0 || (size_t)n >= len - o)
			return buf;
		o += (size_t)n;
	}
	if (caps & ~known)
		snprintf(buf + o, len - o, "%s0x%x", o ? "," : "", caps & ~known);
	else if (o == 0)
		snprintf(buf, len, "none");
	return buf;
}
