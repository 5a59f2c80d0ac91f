# shoal agent config for a load-balancer machine running nginx.
node_name = "lb2"
bind      = "10.0.0.20:7946"
retry_join = ["10.0.0.11:7946", "10.0.0.12:7946"]
snapshot_path = "/var/lib/shoal/snapshot"
tags = {
  role = "lb"
}

template {
  source       = "builtin:nginx"
  destination  = "/etc/nginx/conf.d/shoal.conf"
  backend      = "nginx"          # validates with nginx -t, reloads with nginx -s reload
  wait {
    min = "500ms"
    max = "5s"
  }
  min_backends = 1
}
