-- Prosody for bench/compare.sh. @WORK@ and @PORT@ are filled in by the script.
-- Tuned as the issue asks: epoll backend, per-connection rate limits out of the way.
run_as_root = true
pidfile = "@WORK@/prosody/prosody.pid"
data_path = "@WORK@/prosody/data"
log = { warn = "@WORK@/prosody/prosody.log" }
network_backend = "epoll"
c2s_ports = { @PORT@ }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
admin_socket = "@WORK@/prosody/admin.sock"
c2s_require_encryption = true
authentication = "internal_hashed"
storage = "internal"
allow_registration = true
min_seconds_between_registrations = 0
registration_throttle_max = 1000000
limits = { c2s = { rate = "1000mb/s"; burst = "100mb" } }
-- Match the other servers' idle behaviour: no forced disconnects during a run.
c2s_timeout = 3600
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "register", "posix", "limits" }
ssl = { protocol = "tlsv1_2+"; }
certificates = "@WORK@/certs"
VirtualHost "localhost"
    ssl = { certificate = "@WORK@/certs/localhost.crt"; key = "@WORK@/certs/localhost.key"; }
