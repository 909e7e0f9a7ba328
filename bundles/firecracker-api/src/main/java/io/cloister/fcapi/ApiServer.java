package io.cloister.fcapi;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.unixdomain.server.UnixDomainServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * HTTP/1.1 on a Unix domain socket through Jetty 12 core: Jetty parses and writes HTTP, this
 * only hands method, path and body to {@link Routes}. Requests are handled on Jetty's threads
 * (InstanceStart blocks one until the VM runs), a few of them: the API serves one VM.
 */
final class ApiServer implements AutoCloseable {
    /** How long a stop waits for requests in flight. */
    static final long STOP_MS = 5_000;
    private final Server server;
    private final Path socket;

    private ApiServer(Server server, Path socket) {
        this.server = server;
        this.socket = socket;
    }

    /**
     * Binds {@code socket}. A socket file nobody answers on (left by a process that was killed)
     * is replaced; one a live server answers on, or any other file, is refused.
     */
    static ApiServer start(Path socket, Routes routes) throws IOException {
        checkSocketPath(socket);
        QueuedThreadPool threads = new QueuedThreadPool(12, 2);
        threads.setName("fcapi");
        threads.setDaemon(true);
        Server server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(false);
        UnixDomainServerConnector connector = new UnixDomainServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        connector.setUnixDomainPath(socket);
        server.addConnector(connector);
        // Graceful stop: a request in flight when the run ends (the DELETE or PATCH that let the
        // guest finish) still gets its answer before the socket goes.
        GracefulHandler graceful = new GracefulHandler(new ApiHandler(routes));
        server.setHandler(graceful);
        server.setStopTimeout(STOP_MS);
        try {
            server.start();
        } catch (Exception e) {
            try {
                server.stop();
            } catch (Exception ignored) {
                // already failing
            }
            throw new IOException("cannot serve the API on " + socket + ": " + Json.oneLine(String.valueOf(e.getMessage())), e);
        }
        return new ApiServer(server, socket);
    }

    /** The checks the launcher makes too, made again at bind time (the file may have appeared since). */
    static void checkSocketPath(Path socket) throws IOException {
        if (!Files.exists(socket, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (!"socket".equals(fileType(socket))) {
            throw new IOException("--api-sock " + socket + " exists and is not a socket");
        }
        if (answers(socket)) {
            throw new IOException("--api-sock " + socket + " is in use by a running process");
        }
        Files.delete(socket); // stale: its server is gone
    }

    /** Whether a process accepts connections on the socket. */
    static boolean answers(Path socket) {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static String fileType(Path p) throws IOException {
        Object mode = Files.getAttribute(p, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
        return ((Integer) mode & 0170000) == 0140000 ? "socket" : "other";
    }

    /** Whether a stop has begun (or ended). */
    boolean stopping() {
        return server.isStopping() || server.isStopped();
    }

    Path socket() {
        return socket;
    }

    /** Stops serving; Jetty removes the socket file. */
    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            // stopping anyway
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            // left behind: the next start replaces a stale socket
        }
    }

    /** Reads the body (bounded), routes, writes the reply. */
    private static final class ApiHandler extends Handler.Abstract {
        private final Routes routes;

        ApiHandler(Routes routes) {
            this.routes = routes;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            Reply reply;
            long length = request.getLength();
            if (length > Routes.MAX_BODY) {
                reply = routes.tooLarge(length);
            } else {
                String body;
                try {
                    ByteBuffer bytes = Content.Source.asByteBufferAsync(request, Routes.MAX_BODY + 1).get();
                    body = bytes.remaining() > Routes.MAX_BODY ? null : StandardCharsets.UTF_8.decode(bytes).toString();
                } catch (Exception e) {
                    body = null;
                }
                reply = body == null ? routes.tooLarge(-1) : routes.handle(request.getMethod(), request.getHttpURI().getPath(), body);
            }
            response.setStatus(reply.status());
            if (reply.body() == null) {
                response.write(true, null, callback);
            } else {
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
                response.write(true, StandardCharsets.UTF_8.encode(Json.write(reply.body())), callback);
            }
            return true;
        }
    }
}
