// Preloaded into Windows Node under Wine (NODE_OPTIONS=--require, set by
// .ci/wine): Wine 8 refuses the TCP keep-alive options that Node's libuv
// sets on Windows, so every socket with keep-alive on fails to connect,
// and with it every fetch. Loopback test connections do not need it.
require("node:net").Socket.prototype.setKeepAlive = function () {
	return this;
};
