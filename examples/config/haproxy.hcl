# shoal agent config for a load-balancer machine running HAProxy.
# HAProxy must run in master-worker mode with a master socket, e.g. in
# haproxy.service: haproxy -Ws -S /run/haproxy-master.sock -f /etc/haproxy/haproxy.cfg
node_name = "lb1"
bind      = "10.0.0.10:7946"
retry_join = ["10.0.0.11:7946", "10.0.0.12:7946"]
snapshot_path = "/var/lib/shoal/snapshot"

# Gossip key: every agent of the cluster needs the same one, and an agent
# with a template refuses to start without it. Make the keyring once and
# copy it to every machine (shoal rewrites it when `shoal keys` rotates):
#   echo "[\"$(shoal keygen)\"]" > /var/lib/shoal/keyring.json
#   chmod 600 /var/lib/shoal/keyring.json
# (Not in /etc/shoal: -config-dir reads every *.json there as config.)
keyring_file = "/var/lib/shoal/keyring.json"

dns_addr = "127.0.0.1:8600"
tags = {
  role = "lb"
}

event_handlers = ["user:deploy=/etc/shoal/handlers/deploy.sh"]

template {
  source        = "builtin:haproxy"
  destination   = "/etc/haproxy/haproxy.cfg"
  backend       = "haproxy"
  master_socket = "/run/haproxy-master.sock"
  # Frontend ports: web on 80; other services on 20000 + a hash of their name.
  vars          = { "listen.web" = "80" }
  wait {
    min = "500ms"
    max = "5s"
  }
  # Never render an empty pool: a partitioned lb keeps its last good config.
  min_backends = 1
}
