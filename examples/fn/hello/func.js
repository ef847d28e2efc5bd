// An Fn function, as `fn init --runtime node` writes one: @fnproject/fdk speaks Fn's http-stream protocol
// to the node, and this handler gets each call's JSON body. Deploy it with `tessera fn deploy examples/fn/hello`;
// it runs as a hot process confined by bubblewrap.
const fdk = require('@fnproject/fdk');

fdk.handle(function (input) {
  let name = 'World';
  if (input && input.name) {
    name = input.name;
  }
  return { message: 'Hello ' + name };
});
