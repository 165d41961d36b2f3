// A minimal HTTP replica for the load balancer's tests and benchmark (a model server's stand-in):
// answers every request with its id once the request's body is read.
// Usage: node test/helpers/http-replica.mjs ID [HOST]; prints {"port":N} on stdout once listening.
import http from 'node:http';

const id = process.argv[2] ?? '1';
const host = process.argv[3] ?? '127.0.0.1';
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(id) });
    res.end(id);
  });
});
server.listen(0, host, () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
