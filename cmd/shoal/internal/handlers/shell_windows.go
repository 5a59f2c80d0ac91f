package handlers

// shell runs a handler's command line, as Serf does on Windows.
var shell = [2]string{"cmd", "/C"}
