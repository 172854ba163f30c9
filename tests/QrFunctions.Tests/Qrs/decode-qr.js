// Decodes a QR code PNG with a real decoder (npm jsqr + pngjs) and prints its text. Usage: node decode-qr.js file.png
const fs = require('fs');
const { PNG } = require('pngjs');
const jsQR = require('jsqr');
const png = PNG.sync.read(fs.readFileSync(process.argv[2]));
const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
if (!code) { console.error('no QR code found'); process.exit(1); }
process.stdout.write(code.data);
