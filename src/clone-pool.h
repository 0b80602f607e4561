/* SPDX-License-Identifier: MIT */
#pragma once

#include "clone-ns.h"
#include "config.h"

/* The clone pool (docs/DESIGN.md, "The pool"): [clone] pool namespaces
 * made ahead by a worker thread, off the event loop, each a clone_ns with
 * the default tap options (one queue, vnet header), the default MTU, an
 * nsid, and its veth's host end under a name no slot has ("<prefix>p<k>").
 * Nothing is mounted: a pooled namespace lives on our fds alone, so a
 * killed daemon leaves none. */

struct clone_pool;

/* Opens the worker's socket (in the caller's namespace, home_fd, which must
 * outlive the pool); no thread yet. */
int clone_pool_new(const struct config *c, int home_fd, struct clone_pool **ret);

/* Starts the worker, which fills the pool and refills it after each take. */
int clone_pool_start(struct clone_pool *p);

/* A ready namespace, or -EAGAIN when there is none (never waits for one).
 * The caller owns *ret (clone_ns_done()); the worker makes another. */
int clone_pool_take(struct clone_pool *p, struct clone_ns *ret);

/* The tap options and MTU of a pooled namespace. */
void clone_pool_defaults(const struct config *c, struct tap_options *ret_opts, unsigned *ret_mtu);

/* Stops and joins the worker, and closes the ready namespaces. */
void clone_pool_free(struct clone_pool *p);
