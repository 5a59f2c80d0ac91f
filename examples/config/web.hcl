# shoal agent config for a web machine: it only announces its service.
node_name  = "web1"
bind       = "10.0.0.11:7946"
retry_join = ["10.0.0.10:7946", "10.0.0.12:7946"]
snapshot_path = "/var/lib/shoal/snapshot"

# Gossip key: every agent of the cluster needs the same one, and an agent
# with a template refuses to start without it. Make the keyring once and
# copy it to every machine (shoal rewrites it when `shoal keys` rotates):
#   echo "[\"$(shoal keygen)\"]" > /var/lib/shoal/keyring.json
#   chmod 600 /var/lib/shoal/keyring.json
# (Not in /etc/shoal: -config-dir reads every *.json there as config.)
keyring_file = "/var/lib/shoal/keyring.json"

# Runtime registrations, maintenance (shoal maint) and ttl check status
# survive restarts here.
data_dir = "/var/lib/shoal"

service {
  name   = "web"
  port   = 8080
  tags   = ["v2"]
  weight = 10
  # Out of DNS and every load balancer within a second of failing.
  check {
    http     = "http://127.0.0.1:8080/health"
    interval = "1s"
    timeout  = "500ms"
  }
}
