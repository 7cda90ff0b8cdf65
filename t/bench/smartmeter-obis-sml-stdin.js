// t/bench/smlread's peer: smartmeter-obis (npm) decoding SML files from
// stdin with its StdInTransport and SmlProtocol, as its README shows.
// Prints "files N errors E" when stdin ends or N + E reach the count asked
// for.  SMO_DEBUG=2 shows its own debug log.
'use strict';
const SmartmeterObis = require('smartmeter-obis');
const want = Number(process.argv[2] || 0);
let files = 0, errors = 0, done = false;

function finish() {
    if (done) return;
    done = true;
    console.log('files ' + files + ' errors ' + errors);
    process.exit(0);
}

SmartmeterObis.init({
    protocol: 'SmlProtocol',
    transport: 'StdInTransport',
    requestInterval: 0,
    obisNameLanguage: 'en',
    debug: Number(process.env.SMO_DEBUG || 0),
    logger: (m) => process.env.SMO_DEBUG && console.error(m),
}, (err, obisResult) => {
    if (err || !obisResult) errors++;
    else files++;
    if (want && files + errors >= want) finish();
});
process.stdin.on('end', () => setTimeout(finish, 200));
