/* test_ws_python.c: interoperability with a real WebSocket client (python3-websockets 10.x, asyncio) against
 * the in-process server: subprotocol negotiation, permessage-deflate offered and declined, text/binary echo,
 * a 40 KB message (16-bit length), a fragmented message, ping/pong, client close handshake, server close
 * with code 4000. Skipped when python3 or the websockets module is missing. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "core/common.h"
#include "net/server.h"

static int on_upgrade(td_conn_t *c, const td_http_req_t *req, const char **proto, void *user)
{
    if (td_ws_offers_protocol(req, "tickd.v1")) *proto = "tickd.v1";
    return 0;
}

static void on_msg(td_conn_t *c, int opcode, const char *data, size_t len, void *user)
{
    if (len == 8 && memcmp(data, "close-me", 8) == 0) td_conn_ws_close(c, 4000, "bye");
    else td_conn_ws_send(c, opcode, data, len);
}

static const char script[] =
    "import asyncio, sys, websockets\n"
    "async def main(port):\n"
    "    url = 'ws://127.0.0.1:%d/v1/prices?symbols=AAPL' % port\n"
    "    async with websockets.connect(url, subprotocols=['tickd.v1'], max_size=2**20) as ws:\n"
    "        assert ws.subprotocol == 'tickd.v1', ws.subprotocol\n"
    "        await ws.send('{\"action\":\"ping\"}')\n"
    "        assert await ws.recv() == '{\"action\":\"ping\"}'\n"
    "        await ws.send(b'\\x00\\x01\\xff')\n"
    "        assert await ws.recv() == b'\\x00\\x01\\xff'\n"
    "        big = '\\u00e9' * 20000\n"
    "        await ws.send(big)\n"
    "        assert await ws.recv() == big\n"
    "        await ws.send(['frag', 'mented', ' \\u2603'])\n"
    "        assert await ws.recv() == 'fragmented \\u2603'\n"
    "        pong = await ws.ping(b'hi')\n"
    "        await asyncio.wait_for(pong, 5)\n"
    "        await ws.close(code=1000, reason='done')\n"
    "        assert ws.close_code == 1000, ws.close_code\n"
    "    async with websockets.connect(url) as ws:\n"
    "        await ws.send('close-me')\n"
    "        try:\n"
    "            await asyncio.wait_for(ws.recv(), 5)\n"
    "            raise SystemExit('expected a close')\n"
    "        except websockets.ConnectionClosed as e:\n"
    "            assert e.rcvd.code == 4000, e\n"
    "    print('OK')\n"
    "asyncio.run(asyncio.wait_for(main(int(sys.argv[1])), 20))\n";

static void test_python_client(void **state)
{
    (void)state;
    /* Debian's python3-websockets belongs to /usr/bin/python3; a pyenv or venv python3 first in PATH may
     * not have it. */
    const char *py = "/usr/bin/python3";
    if (system("/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1") != 0) {
        py = "python3";
        if (system("python3 -c 'import websockets' >/dev/null 2>&1") != 0) {
            print_message("python3-websockets not installed: skipped\n");
            skip();
        }
    }
    td_server_config_t cfg = { 0 };
    cfg.ws_max_message = 1 << 20;
    cfg.handlers.on_ws_upgrade = on_upgrade;
    cfg.handlers.on_ws_message = on_msg;
    td_server_t *s = td_server_create(&cfg);
    assert_non_null(s);
    assert_int_equal(td_server_start(s), 0);

    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char port[16];
        snprintf(port, sizeof port, "%u", td_server_port(s));
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(out[0]);
        execlp(py, py, "-c", script, port, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char text[8192];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof text - 1 && (r = read(out[0], text + n, sizeof text - 1 - n)) > 0) n += (size_t)r;
    text[n] = 0;
    close(out[0]);
    int status;
    waitpid(pid, &status, 0);
    td_server_stats_t st;
    td_server_stats(s, &st);
    td_server_destroy(s);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strstr(text, "OK") == NULL)
        fail_msg("python client failed (status %d):\n%s", status, text);
    assert_int_equal(st.ws_opened, 2);
    assert_int_equal(st.ws_protocol_errors, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
