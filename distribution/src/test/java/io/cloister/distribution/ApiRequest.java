package io.cloister.distribution;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.StringRequestContent;
import org.eclipse.jetty.io.Transport;

/**
 * One request to the Firecracker-compatible API on its Unix socket with Jetty's HTTP client (the
 * clients of ApiConcurrencyTest and of the ApiLatency benchmark, where curl would spawn a process
 * per request).
 */
final class ApiRequest {
    private ApiRequest() {
    }

    /** {@code method path} with a JSON {@code body} (null: none); the answer within 60 s. */
    static ContentResponse send(HttpClient client, Path socket, String method, String path, String body) throws Exception {
        var request = client.newRequest("http://localhost" + path).transport(new Transport.TCPUnix(socket)).method(method)
                .timeout(60, TimeUnit.SECONDS);
        if (body != null) {
            request.body(new StringRequestContent("application/json", body));
        }
        return request.send();
    }
}
