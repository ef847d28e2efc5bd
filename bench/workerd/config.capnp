# workerd's configuration for `npm run bench -- workerd` (bench/workerd.ts copies this file and worker.js
# into a temporary directory beside the PEM files it names, and gives the address with
# `--socket-addr https=127.0.0.1:PORT`). One worker, one HTTPS socket with mutual TLS, as the Tessera
# node serves its app endpoints: the server presents a P-256 certificate the bench issued for itself, and
# requires a client certificate from the node's CA (the bench's user presents alice's).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .constantWorker) ],
  sockets = [
    ( name = "https",
      https = (
        tlsOptions = (
          keypair = ( privateKey = embed "key.pem", certificateChain = embed "cert.pem" ),
          requireClientCerts = true,
          trustedCertificates = [ embed "client-ca.pem" ],
        ),
      ),
      service = "main",
    ),
  ],
);

const constantWorker :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "worker.js") ],
  compatibilityDate = "2024-09-23",
);
