/* test_listen_addr.c - listen_addr_parse() and listen_socket_open() (server/listen_addr.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/listen_addr.h"

static void expect_v4(const char *text, const char *host, unsigned port)
{
    struct listen_addr a;
    char err[256] = "";
    bool ok = listen_addr_parse(text, &a, err, sizeof err);
    if (!ok)
        print_error("'%s' rejected: %s\n", text, err);
    assert_true(ok);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a.ss;
    assert_int_equal(in->sin_family, AF_INET);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(in->sin_port), port);
    char got[INET_ADDRSTRLEN];
    assert_non_null(inet_ntop(AF_INET, &in->sin_addr, got, sizeof got));
    assert_string_equal(got, host);
}

static void expect_v6(const char *text, const char *host, unsigned port)
{
    struct listen_addr a;
    char err[256] = "";
    bool ok = listen_addr_parse(text, &a, err, sizeof err);
    if (!ok)
        print_error("'%s' rejected: %s\n", text, err);
    assert_true(ok);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a.ss;
    assert_int_equal(in6->sin6_family, AF_INET6);
    assert_int_equal(a.len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(in6->sin6_port), port);
    char got[INET6_ADDRSTRLEN];
    assert_non_null(inet_ntop(AF_INET6, &in6->sin6_addr, got, sizeof got));
    assert_string_equal(got, host);
}

static void expect_reject(const char *text)
{
    struct listen_addr a;
    char err[512] = "";
    bool ok = listen_addr_parse(text, &a, err, sizeof err);
    if (ok)
        print_error("'%s' accepted\n", text);
    assert_false(ok);
    /* one line naming the input */
    assert_non_null(strstr(err, text));
    assert_non_null(strstr(err, "port 0-65535"));
    assert_null(strchr(err, '\n'));
}

static void test_parse_ipv4(void **state)
{
    (void)state;
    expect_v4("127.0.0.1:8080", "127.0.0.1", 8080);
    expect_v4("0.0.0.0:0", "0.0.0.0", 0);
    expect_v4("10.1.2.3:65535", "10.1.2.3", 65535);
    expect_v4("192.168.0.1:1", "192.168.0.1", 1);
}

static void test_parse_port_only(void **state)
{
    (void)state;
    expect_v4(":8080", "0.0.0.0", 8080);
    expect_v4(":0", "0.0.0.0", 0);
}

static void test_parse_ipv6(void **state)
{
    (void)state;
    expect_v6("[::1]:8080", "::1", 8080);
    expect_v6("[::]:0", "::", 0);
    expect_v6("[fe80::1:2]:443", "fe80::1:2", 443);
    expect_v6("[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80);
}

static void test_reject_port(void **state)
{
    (void)state;
    expect_reject("127.0.0.1");
    expect_reject("127.0.0.1:");
    expect_reject("127.0.0.1:65536");
    expect_reject("127.0.0.1:99999");
    expect_reject("127.0.0.1:123456");
    expect_reject("127.0.0.1:http");
    expect_reject("127.0.0.1:80a");
    expect_reject("127.0.0.1:-1");
    expect_reject("127.0.0.1:+80");
    expect_reject("127.0.0.1: 80");
    expect_reject(":");
    expect_reject(":65536");
    expect_reject("[::1]:65536");
    expect_reject("[::1]:");
}

static void test_reject_host(void **state)
{
    (void)state;
    expect_reject("localhost:80");
    expect_reject("1.2.3:80");
    expect_reject("1.2.3.4.5:80");
    expect_reject("256.0.0.1:80");
    expect_reject("[::1]");
    expect_reject("[::1]8080");
    expect_reject("[::1:8080");
    expect_reject("::1:8080");
    expect_reject("[127.0.0.1]:80");
    expect_reject("[localhost]:80");
    expect_reject("[]:80");
    expect_reject("");
    expect_reject(" 127.0.0.1:80");
}

static void test_reject_long_host(void **state)
{
    (void)state;
    char text[200];
    memset(text, '1', 100);
    snprintf(text + 100, sizeof text - 100, ":80");
    expect_reject(text);
    text[0] = '[';
    snprintf(text + 100, sizeof text - 100, "]:80");
    expect_reject(text);
}

static void test_socket_open_ephemeral(void **state)
{
    (void)state;
    struct listen_addr a;
    char err[256] = "", bound[128] = "";
    int fd = -1;
    assert_true(listen_addr_parse("127.0.0.1:0", &a, err, sizeof err));
    bool ok = listen_socket_open(&a, 16, &fd, bound, sizeof bound, err, sizeof err);
    if (!ok)
        print_error("listen_socket_open: %s\n", err);
    assert_true(ok);
    assert_true(fd >= 0);
    unsigned port = 0;
    char tail = 0;
    assert_int_equal(sscanf(bound, "127.0.0.1:%u%c", &port, &tail), 1);
    assert_true(port > 0 && port <= 65535);

    /* the descriptor is a listening, non-blocking, close-on-exec socket on that port */
    struct sockaddr_in got;
    socklen_t len = sizeof got;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&got, &len), 0);
    assert_int_equal(ntohs(got.sin_port), port);
    int flags = fcntl(fd, F_GETFL);
    assert_true(flags & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    int listening = 0;
    socklen_t optlen = sizeof listening;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen), 0);
    assert_int_equal(listening, 1);
    assert_int_equal(close(fd), 0);
}

static void test_socket_open_port_in_use(void **state)
{
    (void)state;
    struct listen_addr a, b;
    char err[256] = "", bound[128] = "", bound2[128] = "", text[128];
    int fd = -1, fd2 = -1;
    assert_true(listen_addr_parse("127.0.0.1:0", &a, err, sizeof err));
    assert_true(listen_socket_open(&a, 16, &fd, bound, sizeof bound, err, sizeof err));

    snprintf(text, sizeof text, "%s", bound); /* "127.0.0.1:N", the concrete port */
    assert_true(listen_addr_parse(text, &b, err, sizeof err));
    err[0] = '\0';
    bool ok = listen_socket_open(&b, 16, &fd2, bound2, sizeof bound2, err, sizeof err);
    if (ok)
        close(fd2);
    assert_false(ok);
    if (!strstr(err, "Address already in use"))
        print_error("message: '%s'\n", err);
    assert_non_null(strstr(err, "Address already in use"));
    assert_non_null(strstr(err, text)); /* names the address */
    assert_int_equal(close(fd), 0);
}

static void test_socket_open_ipv6_loopback(void **state)
{
    (void)state;
    struct listen_addr a;
    char err[256] = "", bound[128] = "";
    int fd = -1;
    assert_true(listen_addr_parse("[::1]:0", &a, err, sizeof err));
    if (!listen_socket_open(&a, 16, &fd, bound, sizeof bound, err, sizeof err)) {
        if (strstr(err, "Address family not supported") || strstr(err, "Cannot assign"))
            skip(); /* no IPv6 loopback in this environment */
        fail_msg("listen_socket_open [::1]:0: %s", err);
    }
    unsigned port = 0;
    assert_int_equal(sscanf(bound, "[::1]:%u", &port), 1);
    assert_true(port > 0 && port <= 65535);
    assert_int_equal(close(fd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ipv4),
        cmocka_unit_test(test_parse_port_only),
        cmocka_unit_test(test_parse_ipv6),
        cmocka_unit_test(test_reject_port),
        cmocka_unit_test(test_reject_host),
        cmocka_unit_test(test_reject_long_host),
        cmocka_unit_test(test_socket_open_ephemeral),
        cmocka_unit_test(test_socket_open_port_in_use),
        cmocka_unit_test(test_socket_open_ipv6_loopback),
    };
    return cmocka_run_group_tests_name("listen_addr", tests, NULL, NULL);
}
