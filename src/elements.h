/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

#include "manager.h"
#include "nft.h"

/* The set elements of every slot (docs/DESIGN.md, "The nftables layout"):
 * added when an Acquire's device is configured, deleted when the slot is
 * gone (a "gone" subscriber that holds the slot until the deletion
 * commits), made exact at start-up, and handed to the firewall for its
 * restores. Deletions arriving together share one nft batch. */

struct elements;

/* Subscribes to m's lifecycle. */
int elements_new(sd_event *event, struct nft *nft, struct manager *m, struct elements **ret);
/* Commits the deletions still gathered (their slots are then free) and
 * unsubscribes. */
void elements_free(struct elements *el);

/* Commits the slot's elements now, together with the deletions gathered
 * so far. An error is the addition's; failed deletions are logged (the
 * next start-up removes what stays). */
int elements_add(struct elements *el, unsigned slot);

/* Replaces a live slot's egress policy (p is taken over on success) in one
 * nft batch: the elements of the old policy that the new one lacks go, the
 * new ones come. */
int elements_set_egress(struct elements *el, struct slot_rec *r, struct egress_policy *p);
/* The same for its published ports: l becomes r's on success. */
int elements_set_published(struct elements *el, struct slot_rec *r, struct publish_list *l);

/* Start-up, after adoption: the sets hold exactly the live slots'
 * elements afterwards. */
int elements_reconcile(struct elements *el);

/* firewall_collect_fn: every element that should be in the sets. */
int elements_collect(struct nft_elem **ret, size_t *ret_n, void *userdata);
