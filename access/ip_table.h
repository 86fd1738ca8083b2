/* ip_table.h - open connections per client address, for --max-connections-per-ip.
 *
 * A table of addresses with two counts each: connections served and connections accepted
 * only to be refused. Its capacity is fixed at creation (one entry per connection that can be
 * open at once), so it never allocates while serving and its lookups are O(1) on average
 * under a per-table random hash seed. An entry exists while one of its counts is not 0.
 * Not thread safe: the caller holds a lock around every call.
 */
#ifndef MMAPD_IP_TABLE_H
#define MMAPD_IP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IPv4 address (4 bytes) or IPv6 address (16 bytes). */
struct ip_key {
    unsigned char len;
    unsigned char bytes[16];
};

/* The key of an AF_INET or AF_INET6 address; an IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * gives the IPv4 key, so that one client is one key on a dual-stack socket. False for any
 * other family, or when `addr` is NULL or shorter than its family's address. */
bool ip_key_from_sockaddr(const struct sockaddr *addr, socklen_t addrlen, struct ip_key *out);

struct ip_counts {
    uint32_t served; /* connections whose requests are served */
    uint32_t excess; /* connections accepted only to be answered 503 */
};

struct ip_table;

/* A table for up to `capacity` addresses at once (1 or more); NULL when out of memory. */
struct ip_table *ip_table_create(uint32_t capacity);
void ip_table_destroy(struct ip_table *t);

/* The counts of `key`, or NULL when the table has no entry for it. */
struct ip_counts *ip_table_find(struct ip_table *t, const struct ip_key *key);

/* The counts of `key`, added with both counts 0 when missing; NULL when the table is full. */
struct ip_counts *ip_table_get(struct ip_table *t, const struct ip_key *key);

/* Removes the entry of `key` if both its counts are 0. */
void ip_table_drop_if_idle(struct ip_table *t, const struct ip_key *key);

/* Entries in the table. */
uint32_t ip_table_size(const struct ip_table *t);

#endif
