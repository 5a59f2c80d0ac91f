# shoal agent config for a web machine: it only announces its service.
node_name  = "web1"
bind       = "10.0.0.11:7946"
retry_join = ["10.0.0.10:7946", "10.0.0.12:7946"]
snapshot_path = "/var/lib/shoal/snapshot"

service {
  name   = "web"
  port   = 8080
  tags   = ["v2"]
  weight = 10
}
