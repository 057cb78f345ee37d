/* SPDX-License-Identifier: MIT */
/*
 * Lights on GPIO output lines (libgpiod 1.6): the chip by label, the main
 * light and the optional recording lamp by name or offset, requested as
 * outputs (consumer "diaryroom", initially off) with active-low as the board
 * says; the camera light ([camera] light) likewise, on a board with a
 * camera. Not exercisable on a host without a GPIO chip; the emulated board
 * drives PL061 lines 4 and 5 with it (tests/emulated reads their levels).
 */
#include <errno.h>
#include <gpiod.h>
#include <stdlib.h>
#include <string.h>

#include "dev_util.h"
#include "lights_impl.h"
#include "util/conf.h"

#define CONSUMER "diaryroom"

struct gpiod_lights {
	struct gpiod_chip *chip;
	struct gpiod_line *main, *rec, *cam;
	int main_on, rec_on, cam_on; /* last values set, -1 unknown */
};

static int set(struct gpiod_line *line, int *cur, bool on)
{
	if (!line || *cur == (int)on)
		return 0;
	if (gpiod_line_set_value(line, on) < 0)
		return errno == ENODEV ? -ENODEV : -EIO;
	*cur = on;
	return 0;
}

static int gpiod_drive(void *be, bool main_on, bool recording_on)
{
	struct gpiod_lights *g = be;
	int r = set(g->main, &g->main_on, main_on);
	int r2 = set(g->rec, &g->rec_on, recording_on);

	return r < 0 ? r : r2;
}

static int gpiod_camera(void *be, bool on)
{
	struct gpiod_lights *g = be;
	return set(g->cam, &g->cam_on, on);
}

static void gpiod_destroy(void *be)
{
	struct gpiod_lights *g = be;

	if (!g)
		return;
	if (g->main)
		gpiod_line_release(g->main);
	if (g->rec)
		gpiod_line_release(g->rec);
	if (g->cam)
		gpiod_line_release(g->cam);
	if (g->chip)
		gpiod_chip_close(g->chip);
	free(g);
}

static const struct dr_lights_ops gpiod_lights_ops = {
	.name = "gpiod",
	.timed = true,
	.drive = gpiod_drive,
	.camera = gpiod_camera,
	.destroy = gpiod_destroy,
};

static int request(struct gpiod_chip *chip, const char *chip_label, const char *key,
		   const char *name, bool active_low, struct gpiod_line **out, char *err,
		   size_t errlen)
{
	struct gpiod_line *line;
	unsigned offset;

	if (dr_dev_is_offset(name, &offset))
		line = gpiod_chip_get_line(chip, offset);
	else
		line = gpiod_chip_find_line(chip, name);
	if (!line) {
		dr_dev_err(err, errlen, "board.conf: [lights] %s line \"%s\" not found on chip \"%s\"",
			   key, name, chip_label);
		return -ENODEV;
	}
	if (gpiod_line_request_output_flags(line, CONSUMER,
					    active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0, 0) < 0) {
		int r = -errno;

		dr_dev_err(err, errlen, "lights: cannot request %s line \"%s\": %s%s", key, name,
			   strerror(errno), errno == EBUSY ? " (another program holds it)" : "");
		return r;
	}
	*out = line;
	return 0;
}

int dr_lights_gpiod_open(const struct dr_conf *board, void **be, const struct dr_lights_ops **ops,
			 char *err, size_t errlen)
{
	const char *chip, *main_name, *rec_name, *cam_name;
	struct gpiod_lights *g;
	char msg[512] = "";
	bool active_low;
	int r;

	chip = dr_conf_get(board, "lights", "chip");
	main_name = dr_conf_get(board, "lights", "main");
	rec_name = dr_conf_get(board, "lights", "recording");
	cam_name = strcmp(dr_conf_get_str(board, "camera", "backend", "none"), "none")
			   ? dr_conf_get(board, "camera", "light") : NULL;
	if (!chip || !*chip || !main_name || !*main_name) {
		dr_dev_err(err, errlen, "board.conf: [lights] %s is missing (needed by backend = gpiod)",
			   !chip || !*chip ? "chip" : "main");
		return -EINVAL;
	}
	r = dr_conf_get_bool(board, "lights", "active_low", false, &active_low, msg, sizeof(msg));
	if (r < 0) {
		dr_dev_err(err, errlen, "%s", msg);
		return r;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		dr_dev_err(err, errlen, "lights: out of memory");
		return -ENOMEM;
	}
	g->main_on = g->rec_on = g->cam_on = 0; /* requested with value 0 */
	errno = 0;
	g->chip = gpiod_chip_open_by_label(chip);
	if (!g->chip) {
		r = errno == ENOENT || !errno ? -ENODEV : -errno;
		if (r == -ENODEV)
			dr_dev_err(err, errlen, "board.conf: [lights] chip \"%s\" not found", chip);
		else
			dr_dev_err(err, errlen, "board.conf: [lights] chip \"%s\": %s", chip, strerror(-r));
		goto err_destroy;
	}
	r = request(g->chip, chip, "main", main_name, active_low, &g->main, err, errlen);
	if (r == 0 && rec_name && *rec_name)
		r = request(g->chip, chip, "recording", rec_name, active_low, &g->rec, err, errlen);
	if (r == 0 && cam_name && *cam_name)
		r = request(g->chip, chip, "camera light", cam_name, active_low, &g->cam, err, errlen);
	if (r < 0)
		goto err_destroy;
	*be = g;
	*ops = &gpiod_lights_ops;
	return 0;

err_destroy:
	gpiod_destroy(g);
	return r;
}
