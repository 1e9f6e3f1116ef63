/*
 * mkprofile - make upcalld's binary kernel profile from a vmlinux (BTF)
 * and its System.map, or from a Volatility 3 ISF JSON file; or show what a
 * profile holds. Runs on the trusted host, once per guest kernel build.
 *
 * Exit status: 0 done, 1 the input or output failed, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "profile.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mkprofile --vmlinux VMLINUX [--system-map SYSTEM.MAP] -o OUT\n"
		"       mkprofile --isf FILE.json -o OUT\n"
		"       mkprofile --dump PROFILE\n"
		"\n"
		"Make upcalld's kernel profile (struct offsets, symbols, banner) for one\n"
		"guest kernel build, or show one.\n"
		"\n"
		"  --vmlinux V        kernel image with BTF (Debian: linux-image-<abi>-dbg,\n"
		"                     usr/lib/debug/boot/vmlinux-<abi>)\n"
		"  --system-map S     its System.map (default: vmlinux's ELF symbol table)\n"
		"  --isf F            Volatility 3 ISF JSON (decompress .json.xz first)\n"
		"  -o, --output OUT   profile to write (atomically)\n"
		"  --dump P           print a profile (binary or ISF): banner, fields,\n"
		"                     sizes, known symbols, symbol count\n"
		"  -h, --help         this text\n");
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void dump(const struct profile *p)
{
	int have = 0;

	printf("source: %s\n", p->source);
	printf("banner: %.*s\n", (int)strcspn(p->banner, "\n"),
	       p->banner_len ? p->banner : "(none)");
	for (int i = 0; i < PF_COUNT; i++)
		have += profile_has(p, i);
	printf("fields: %d of %d resolved\n", have, PF_COUNT);
	for (int i = 0; i < PF_COUNT; i++) {
		if (profile_has(p, i))
			printf("  %-28s = %d\n", profile_field_names[i], profile_off(p, i));
		else
			printf("  %-28s   missing\n", profile_field_names[i]);
	}
	printf("sizes:\n");
#define X(id, s) printf("  %-28s = %u\n", s, p->size[PS_##id]);
	PROFILE_SIZES(X)
#undef X
	printf("known symbols:\n");
#define X(id, s) printf("  %-28s = %#018llx\n", s, (unsigned long long)p->known[PSYM_##id]);
	PROFILE_SYMBOLS(X)
#undef X
	printf("symbols: %u\n", p->nsyms);
}

static int do_dump(const char *path)
{
	struct profile *p;
	char err[512];
	double t0 = now_ms();
	int rc = profile_load(path, &p, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "mkprofile: %s\n", err);
		return 1;
	}
	printf("load: %.2f ms\n", now_ms() - t0);
	dump(p);
	profile_free(p);
	return 0;
}

static int do_make(const char *vmlinux, const char *sysmap, const char *isf,
		   const char *out)
{
	struct profile *p;
	char err[512];
	double t0 = now_ms();
	int rc, have = 0;

	rc = isf ? profile_from_isf(isf, &p, err, sizeof(err))
		 : profile_from_vmlinux(vmlinux, sysmap, &p, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "mkprofile: %s\n", err);
		return 1;
	}
	rc = profile_save(p, out);
	if (rc) {
		fprintf(stderr, "mkprofile: %s: cannot write: %s\n", out, strerror(-rc));
		profile_free(p);
		return 1;
	}
	for (int i = 0; i < PF_COUNT; i++)
		have += profile_has(p, i);
	printf("%s: %u symbols, %d of %d fields, %.0f ms\n", out, p->nsyms, have,
	       PF_COUNT, now_ms() - t0);
	printf("banner: %.*s\n", (int)strcspn(p->banner, "\n"),
	       p->banner_len ? p->banner : "(none)");
	profile_free(p);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vmlinux", required_argument, NULL, 'v' },
		{ "system-map", required_argument, NULL, 's' },
		{ "isf", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "dump", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *vmlinux = NULL, *sysmap = NULL, *isf = NULL, *out = NULL, *dumpf = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'v': vmlinux = optarg; break;
		case 's': sysmap = optarg; break;
		case 'i': isf = optarg; break;
		case 'o': out = optarg; break;
		case 'd': dumpf = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "mkprofile: see --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mkprofile: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (dumpf && !vmlinux && !isf && !sysmap && !out)
		return do_dump(dumpf);
	if (dumpf || !out || !!vmlinux + !!isf != 1 || (sysmap && !vmlinux)) {
		fprintf(stderr, "mkprofile: give --vmlinux V [--system-map S] -o OUT, "
			"--isf F -o OUT, or --dump P (see --help)\n");
		return 2;
	}
	return do_make(vmlinux, sysmap, isf, out);
}
