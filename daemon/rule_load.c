/*
 * rule_load.c - loading a rule set from directories, files or a buffer.
 * Every file is parsed and every item loaded even after errors (up to the
 * error cap), so one run reports everything; only a clean load produces a
 * set, and a failed one frees all it built (a reload keeps the old set).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rule_int.h"

static int load_doc(struct rule_set *s, struct rule_ydoc *d, uint32_t file)
{
	const struct rule_ynode *root = d->root;

	if (!root)
		return 0;	/* empty file, or comments only */
	if (root->type != RULE_Y_SEQ) {
		rule_yerr(d, root, "a rules file is a list of items "
			  "(- rule: ..., - macro: ..., - list: ...)");
		return -EINVAL;
	}
	for (size_t i = 0; i < root->n; i++) {
		size_t before = s->errs->nerrors;
		int rc = rule_item_load(s, d, file, root->kids[i]);

		/* a failed item must fail the load, reported or not */
		if (rc < 0 && s->errs->nerrors == before)
			rule_yerr(d, root->kids[i], "cannot load this item: %s",
				  strerror(-rc));
		if (rc == -ENOMEM || rc == -E2BIG)
			return rc;
	}
	return 0;
}

static int load_text(struct rule_set *s, const char *name, const char *buf,
		     size_t len)
{
	struct rule_ydoc d;
	uint32_t file;
	int rc;

	if ((rc = rule_set_add_file(s, name, &file)) < 0) {
		if (rc == -E2BIG)
			rule_errors_add(s->errs, name, 0, 0, "more than %u rule "
					"files", RULE_FILES_MAX);
		return rc;
	}
	rc = rule_ydoc_parse(&d, s->files[file], buf, len, s->errs);
	if (rc == 0)
		rc = load_doc(s, &d, file);
	rule_ydoc_release(&d);
	return rc == -EINVAL ? 0 : rc;	/* errors are in errs: go on */
}

/* The same file named twice (a directory and explicitly): load it once. */
static bool seen_before(struct rule_set *s, const char *path)
{
	char *real = realpath(path, NULL), *copy;

	if (!real)
		return false;	/* reading it will report why */
	if (rule_names_get(&s->real_paths, real, strlen(real)) >= 0) {
		rule_errors_warn(s->errs, path, 0, 0, "already loaded as %s; "
				 "skipped", real);
		free(real);
		return true;
	}
	copy = rule_arena_strndup(&s->arena, real, strlen(real));
	if (copy)
		rule_names_put(&s->real_paths, copy, 0);
	free(real);
	return false;
}

static int load_file(struct rule_set *s, const char *path)
{
	char *buf;
	size_t len;
	int rc;

	if (seen_before(s, path))
		return 0;
	rc = rule_yaml_read_file(path, &buf, &len, s->errs);

	if (rc < 0)
		return rc == -ENOMEM ? rc : 0;
	rc = load_text(s, path, buf, len);
	free(buf);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_yaml(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && !strcmp(name + n - 5, ".yaml");
}

/* The *.yaml files of dir, in strcmp order. */
static int load_dir(struct rule_set *s, const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, alloc = 0;
	int rc = 0;

	if (!dp) {
		rule_errors_add(s->errs, dir, 0, 0, "cannot open directory: %s",
				strerror(errno));
		return 0;
	}
	while ((de = readdir(dp))) {
		if (!is_yaml(de->d_name))
			continue;
		if (n >= RULE_FILES_MAX) {
			rule_errors_add(s->errs, dir, 0, 0, "more than %u rule "
					"files", RULE_FILES_MAX);
			break;
		}
		if (RULE_GROW(names, alloc, n + 1) < 0 ||
		    !(names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2))) {
			rc = -ENOMEM;
			break;
		}
		sprintf(names[n++], "%s/%s", dir, de->d_name);
	}
	closedir(dp);
	if (rc == 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = load_file(s, names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int load_path(struct rule_set *s, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		rule_errors_add(s->errs, path, 0, 0, "cannot load rules: %s",
				strerror(errno));
		return 0;
	}
	return S_ISDIR(st.st_mode) ? load_dir(s, path) : load_file(s, path);
}

/* Resolve, index, and hand over the set only if nothing went wrong. */
static int finish(struct rule_set *s, int rc, struct rule_set **out)
{
	if (rc != -ENOMEM)
		rc = rule_set_finish(s);
	rule_set_sort_errors(s, s->nerr_first);
	if (rc < 0) {
		if (rc == -ENOMEM || s->errs->nerrors == s->nerrors0)
			rule_errors_add(s->errs, NULL, 0, 0, "out of memory "
					"loading rules");
		rule_set_free(s);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	s->errs = NULL;
	*out = s;
	return 0;
}

int rule_set_load_dir(const char *const *paths, size_t n,
		      struct rule_set **out, struct rule_errors *errs)
{
	struct rule_set *s = rule_set_new();
	int rc = 0;

	if (!s)
		return -ENOMEM;
	s->errs = errs;
	s->nerrors0 = errs->nerrors;
	s->nerr_first = errs->n;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = load_path(s, paths[i]);
	return finish(s, rc, out);
}

int rule_set_load_buf(const char *name, const char *buf, size_t len,
		      struct rule_set **out, struct rule_errors *errs)
{
	struct rule_set *s = rule_set_new();
	int rc;

	if (!s)
		return -ENOMEM;
	s->errs = errs;
	s->nerrors0 = errs->nerrors;
	s->nerr_first = errs->n;
	if (len > RULE_FILE_MAX) {
		rule_errors_add(errs, name, 0, 0, "text larger than %u bytes",
				RULE_FILE_MAX);
		rc = -EINVAL;
	} else {
		rc = load_text(s, name, buf, len);
	}
	return finish(s, rc, out);
}
