# shoal agent config for a load-balancer machine running nginx.
node_name = "lb2"
bind      = "10.0.0.20:7946"
retry_join = ["10.0.0.11:7946", "10.0.0.12:7946"]
snapshot_path = "/var/lib/shoal/snapshot"

# Gossip key: every agent of the cluster needs the same one, and an agent
# with a template refuses to start without it. Make the keyring once and
# copy it to every machine (shoal rewrites it when `shoal keys` rotates):
#   echo "[\"$(shoal keygen)\"]" > /var/lib/shoal/keyring.json
#   chmod 600 /var/lib/shoal/keyring.json
# (Not in /etc/shoal: -config-dir reads every *.json there as config.)
keyring_file = "/var/lib/shoal/keyring.json"

tags = {
  role = "lb"
}

template {
  source       = "builtin:nginx"           # a complete nginx.conf
  destination  = "/etc/nginx/nginx.conf"
  backend      = "nginx"                   # validates with nginx -t, reloads by signalling the master
  pid_file     = "/run/nginx.pid"          # the master's PID file; the template's pid var defaults to it
  wait {
    min = "500ms"
    max = "5s"
  }
  min_backends = 1
}
