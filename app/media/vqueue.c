/* SPDX-License-Identifier: MIT */
/* The video track's bounded packet ring (see vqueue.h). */
#include "vqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct dr_vqueue {
	pthread_mutex_t mu;
	struct dr_vpacket *slot;
	size_t nslots, head, count;
	size_t budget, bytes, high_water;
};

int dr_vqueue_new(size_t budget, size_t slots, struct dr_vqueue **out)
{
	if (!budget || !slots || !out)
		return -EINVAL;
	struct dr_vqueue *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->slot = calloc(slots, sizeof(*q->slot));
	if (!q->slot) {
		free(q);
		return -ENOMEM;
	}
	int err = pthread_mutex_init(&q->mu, NULL);
	if (err) {
		free(q->slot);
		free(q);
		return -err;
	}
	q->nslots = slots;
	q->budget = budget;
	*out = q;
	return 0;
}

void dr_vqueue_clear(struct dr_vqueue *q)
{
	pthread_mutex_lock(&q->mu);
	while (q->count) {
		free(q->slot[q->head].data);
		q->head = (q->head + 1) % q->nslots;
		q->count--;
	}
	q->bytes = 0;
	q->high_water = 0;
	pthread_mutex_unlock(&q->mu);
}

void dr_vqueue_free(struct dr_vqueue *q)
{
	if (!q)
		return;
	dr_vqueue_clear(q);
	pthread_mutex_destroy(&q->mu);
	free(q->slot);
	free(q);
}

static bool fits(const struct dr_vqueue *q, size_t len)
{
	return q->count < q->nslots && len <= q->budget - q->bytes;
}

bool dr_vqueue_room(struct dr_vqueue *q, size_t len)
{
	pthread_mutex_lock(&q->mu);
	bool ok = fits(q, len);
	pthread_mutex_unlock(&q->mu);
	return ok;
}

bool dr_vqueue_push(struct dr_vqueue *q, const struct dr_vpacket *p)
{
	pthread_mutex_lock(&q->mu);
	bool ok = fits(q, p->len);
	if (ok) {
		q->slot[(q->head + q->count) % q->nslots] = *p;
		q->count++;
		q->bytes += p->len;
		if (q->bytes > q->high_water)
			q->high_water = q->bytes;
	}
	pthread_mutex_unlock(&q->mu);
	return ok;
}

bool dr_vqueue_peek(struct dr_vqueue *q, struct dr_vpacket *out)
{
	pthread_mutex_lock(&q->mu);
	bool ok = q->count > 0;
	if (ok)
		*out = q->slot[q->head];
	pthread_mutex_unlock(&q->mu);
	return ok;
}

void dr_vqueue_pop(struct dr_vqueue *q)
{
	pthread_mutex_lock(&q->mu);
	if (q->count) {
		struct dr_vpacket *p = &q->slot[q->head];
		q->bytes -= p->len;
		free(p->data);
		p->data = NULL;
		q->head = (q->head + 1) % q->nslots;
		q->count--;
	}
	pthread_mutex_unlock(&q->mu);
}

size_t dr_vqueue_high_water(struct dr_vqueue *q)
{
	pthread_mutex_lock(&q->mu);
	size_t h = q->high_water;
	pthread_mutex_unlock(&q->mu);
	return h;
}
