/*
 * trig.h - a guest's triggers: arm what its rules need (breakpoints on
 * syscall entries and kernel symbols, CR3 events, interval timers), and
 * turn each hypervisor event or timer into a rule match: event rules alert
 * at once, finding rules start a scan (scan.h).
 *
 * Everything read at an event comes from a hostile guest: the current
 * task, the exec'd path and every pointer on the way are bounded reads.
 */
#ifndef UPCALLD_TRIG_H
#define UPCALLD_TRIG_H

#include <stdint.h>

struct guest;

/* Arm the triggers the guest's rules use. Failures degrade the guest
 * (state GUEST_DEGRADED, logged) but only fail the call on -ENOMEM. */
int trig_arm(struct guest *g);
/* Remove every breakpoint, timer and CR3 hook. Safe twice. */
void trig_disarm(struct guest *g);

/* Drain pending hypervisor events. -ENODEV when the guest is gone. */
int trig_on_hv_event(struct guest *g);
/* Fire due interval triggers. */
void trig_tick(struct guest *g, uint64_t now_ns);
uint64_t trig_next_wakeup(const struct guest *g);
/* Make every interval trigger due now (operator's "check"): one scan at
 * once, or as soon as the rule scan in flight ends. Returns how many. */
unsigned int trig_fire_intervals(struct guest *g);

#endif
