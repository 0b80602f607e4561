/* SPDX-License-Identifier: MIT */
/* build/bench/load: the private daemon, and the live population (see
 * bench/load.c). */
#include "load.h"

/* ---- the daemon ---- */

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                die("%s: %s", path, strerror(errno));
}

static void log_tail(const struct bench *b)
{
        char cmd[PATH_MAX + 64];

        fprintf(stderr, "bench: last lines of %s:\n", b->log);
        snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", b->log);
        (void)!system(cmd);
}

static void *notify_thread(void *p);

void setup_daemon_files(struct bench *b)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char text[512];

        snprintf(b->dir, sizeof(b->dir), "/tmp/taplinkd-bench.XXXXXX");
        if (!mkdtemp(b->dir))
                die("mkdtemp: %s", strerror(errno));
        snprintf(b->conf, sizeof(b->conf), "%s/taplinkd.conf", b->dir);
        snprintf(b->socket, sizeof(b->socket), "%s/io.taplinkd", b->dir);
        snprintf(b->notify, sizeof(b->notify), "%s/notify", b->dir);
        snprintf(b->log, sizeof(b->log), "%s/taplinkd.log", b->dir);
        /* A table of our own: nothing else in any namespace is touched. */
        snprintf(b->table, sizeof(b->table), "tlbench%ld", (long)getpid());
        snprintf(text, sizeof(text),
                 "# written by bench/load\n[daemon]\nnft_table = %s\n[network]\nipv6 = %s\n", b->table,
                 b->ipv6 ? "yes" : "no");
        write_file(b->conf, text);

        b->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (b->notify_fd < 0)
                die("socket: %s", strerror(errno));
        if (strlen(b->notify) >= sizeof(sa.sun_path))
                die("%s: path too long", b->notify);
        strcpy(sa.sun_path, b->notify);
        if (bind(b->notify_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("bind %s: %s", b->notify, strerror(errno));
        pthread_cond_init(&b->ready_cond, NULL);
        if (pthread_create(&b->notify_thread, NULL, notify_thread, b) != 0)
                die("pthread_create failed");
}

void remove_daemon_files(const struct bench *b)
{
        unlink(b->conf);
        unlink(b->notify);
        unlink(b->socket);
        unlink(b->log);
        rmdir(b->dir);
}

/* Plays systemd's part: reads every notification for as long as we run.
 * The daemon sends STATUS= as slots come and go; with nobody reading, the
 * queue would fill, and READY=1 after a restart would wait (up to 1 s, see
 * src/notify.c) and spoil the reconcile figure. */
static void *notify_thread(void *p)
{
        struct bench *b = p;
        char buf[4096];

        for (;;) {
                struct pollfd pfd = {.fd = b->notify_fd, .events = POLLIN};
                ssize_t n;

                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                        die("poll: %s", strerror(errno));
                n = recv(b->notify_fd, buf, sizeof(buf) - 1, 0);
                if (n <= 0)
                        continue;
                buf[n] = '\0';
                if (strstr(buf, "READY=1")) {
                        pthread_mutex_lock(&b->lock);
                        b->ready_ns = now_ns();
                        pthread_cond_broadcast(&b->ready_cond);
                        pthread_mutex_unlock(&b->lock);
                }
        }
        return NULL;
}

/* Starts taplinkd and waits for READY=1. Returns the ns from fork to READY. */
uint64_t daemon_start(struct bench *b)
{
        uint64_t t0, ready = 0;
        pid_t pid;

        pthread_mutex_lock(&b->lock);
        b->ready_ns = 0;
        pthread_mutex_unlock(&b->lock);

        t0 = now_ns();
        pid = fork();
        if (pid < 0)
                die("fork: %s", strerror(errno));
        if (pid == 0) {
                int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                setenv("NOTIFY_SOCKET", b->notify, 1);
                execl(b->taplinkd, "taplinkd", "--config", b->conf, "--socket", b->socket, (char *)NULL);
                _exit(127);
        }
        b->pid = daemon_pid = pid;

        while (!ready) {
                struct timespec until;
                int status;

                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += 200 * 1000 * 1000;
                if (until.tv_nsec >= 1000000000) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000;
                }
                pthread_mutex_lock(&b->lock);
                if (b->ready_ns == 0)
                        pthread_cond_timedwait(&b->ready_cond, &b->lock, &until);
                ready = b->ready_ns;
                pthread_mutex_unlock(&b->lock);
                if (ready)
                        break;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        b->pid = daemon_pid = 0;
                        log_tail(b);
                        die("taplinkd exited during start-up (status %d)", status);
                }
                if (now_ns() - t0 > (uint64_t)READY_TIMEOUT_S * 1000000000u) {
                        log_tail(b);
                        die("taplinkd not ready after %d s", READY_TIMEOUT_S);
                }
        }
        return ready - t0;
}

void daemon_stop(struct bench *b, int sig)
{
        int status;

        if (b->pid <= 0)
                return;
        kill(b->pid, sig);
        if (waitpid(b->pid, &status, 0) < 0)
                die("waitpid: %s", strerror(errno));
        b->pid = daemon_pid = 0;
}

long daemon_rss_kib(const struct bench *b)
{
        char path[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/status", (long)b->pid);
        f = fopen(path, "re");
        if (!f)
                die("%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

tl_client *connect_client(const struct bench *b)
{
        tl_client *c;
        int r = tl_client_connect(b->socket, &c);

        if (r < 0)
                die("connect %s: %s", b->socket, strerror(-r));
        return c;
}

static unsigned daemon_slots_in_use(const struct bench *b)
{
        tl_client *c = connect_client(b);
        tl_status st;
        int r = tl_status_get(c, &st);

        if (r < 0)
                die("Status: %s", tl_client_error_message(c));
        tl_client_free(c);
        return st.slots_in_use;
}

void expect_live(const struct bench *b, unsigned live, const char *when)
{
        unsigned n = daemon_slots_in_use(b);

        if (n != live)
                die("%s: the daemon has %u slots in use, expected %u", when, n, live);
}

/* ---- population: persistent slots whose fds we close ---- */

struct fill_ctx {
        struct bench *b;
        unsigned *left; /* under b->lock */
};

static void *fill_thread(void *p)
{
        struct fill_ctx *f = p;
        struct bench *b = f->b;
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;
        tl_client *c = connect_client(b);

        opts.persistent = true;
        for (;;) {
                tl_slot *s;
                int r;

                pthread_mutex_lock(&b->lock);
                if (*f->left == 0) {
                        pthread_mutex_unlock(&b->lock);
                        break;
                }
                (*f->left)--;
                pthread_mutex_unlock(&b->lock);

                r = tl_acquire(c, &opts, &s);
                if (r < 0)
                        die("filling: Acquire: %s", tl_client_error_message(c));
                pthread_mutex_lock(&b->lock);
                if (b->n_population == b->cap_population) {
                        size_t cap = b->cap_population ? b->cap_population * 2 : 1024;
                        unsigned *v = realloc(b->population, cap * sizeof(*v));
                        if (!v)
                                die("out of memory");
                        b->population = v;
                        b->cap_population = cap;
                }
                b->population[b->n_population++] = tl_slot_number(s);
                pthread_mutex_unlock(&b->lock);
                /* Persistent: the device stays without our fd. */
                tl_slot_free(s);
        }
        tl_client_free(c);
        return NULL;
}

double fill_to(struct bench *b, unsigned live)
{
        struct fill_ctx ctx[FILL_CLIENTS];
        unsigned left;
        uint64_t t0;

        if (live <= b->n_population)
                return 0;
        left = live - (unsigned)b->n_population;
        progress("filling %zu -> %u live slots (persistent, %d clients)", b->n_population, live,
                 FILL_CLIENTS);
        for (size_t i = 0; i < ELEMENTSOF(ctx); i++)
                ctx[i] = (struct fill_ctx){b, &left};
        t0 = now_ns();
        run_threads(fill_thread, ctx, sizeof(ctx[0]), FILL_CLIENTS);
        return (now_ns() - t0) / 1e9;
}

/* Releases the whole population from RELEASE_CLIENTS clients at once. */
struct release_ctx {
        struct bench *b;
        size_t *next;
};

static void *release_thread(void *p)
{
        struct release_ctx *rc = p;
        struct bench *b = rc->b;
        tl_client *c = connect_client(b);

        for (;;) {
                unsigned slot;
                int r;

                pthread_mutex_lock(&b->lock);
                if (*rc->next >= b->n_population) {
                        pthread_mutex_unlock(&b->lock);
                        break;
                }
                slot = b->population[(*rc->next)++];
                pthread_mutex_unlock(&b->lock);
                r = tl_release(c, slot);
                if (r < 0)
                        die("Release %u: %s", slot, tl_client_error_message(c));
        }
        tl_client_free(c);
        return NULL;
}

double release_population(struct bench *b)
{
        struct release_ctx ctx[RELEASE_CLIENTS];
        size_t next = 0;
        uint64_t t0;

        for (size_t i = 0; i < ELEMENTSOF(ctx); i++)
                ctx[i] = (struct release_ctx){b, &next};
        t0 = now_ns();
        run_threads(release_thread, ctx, sizeof(ctx[0]), RELEASE_CLIENTS);
        b->n_population = 0;
        return (now_ns() - t0) / 1e6;
}
