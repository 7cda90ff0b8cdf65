// t/bench/p1read's peer: smartmeter-obis (npm) parsing DSMR telegrams from
// stdin with its StdInTransport and D0Protocol, as its README shows.  Prints
// "telegrams N errors E" when stdin ends or N + E reach the count asked for.
// SMO_DEBUG=2 shows its own debug log.
'use strict';
const SmartmeterObis = require('smartmeter-obis');
const want = Number(process.argv[2] || 0);
let telegrams = 0, errors = 0, done = false;

function finish() {
    if (done) return;
    done = true;
    console.log('telegrams ' + telegrams + ' errors ' + errors);
    process.exit(0);
}

// With requestInterval 0 its D0Protocol stops after the first telegram
// (state 10, "process complete"); with an interval it pauses stdin and
// drops what is buffered.  A P1 port is one endless stream of telegrams,
// so after each one the protocol starts a new session (as for the first
// telegram), and what is left of the CRC line is skipped up to the next
// '/': otherwise every second telegram fails on the CRC digits.
const D0 = SmartmeterObis.D0Protocol;
const handleMessage = D0.prototype.handleMessage;
D0.prototype.handleMessage = function (message) {
    let rest = handleMessage.call(this, message);
    if (this.communicationState === 10) {
        this.initState();
        if (rest) {
            const slash = rest.indexOf(0x2f);
            rest = slash < 0 ? Buffer.alloc(0) : rest.subarray(slash);
        }
    }
    return rest;
};

SmartmeterObis.init({
    protocol: 'D0Protocol',
    transport: 'StdInTransport',
    requestInterval: 0,
    obisNameLanguage: 'en',
    debug: Number(process.env.SMO_DEBUG || 0),
    logger: (m) => process.env.SMO_DEBUG && console.error(m),
}, (err, obisResult) => {
    if (err || !obisResult) errors++;
    else telegrams++;
    if (want && telegrams + errors >= want) finish();
});
process.stdin.on('end', () => setTimeout(finish, 200));
