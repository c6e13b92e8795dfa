// The official `openai` package for Node against Banana Studio's OpenAI-compatible API, as its
// README shows it: an edit whose image is fs.createReadStream(...) (sent chunked, with no
// Content-Length), and a generation. Prints one JSON line with what came back.
import fs from "node:fs";
import OpenAI from "openai";

const [baseURL, apiKey, imagePath] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });

const edited = await client.images.edit({
  model: "google/gempix2",
  image: fs.createReadStream(imagePath),
  prompt: "Put it in a basket",
  response_format: "url",
});
const generated = await client.images.generate({ prompt: "A banana on the moon", n: 2 });
const models = await client.models.list();

console.log(
  JSON.stringify({
    edit_urls: edited.data.map((image) => image.url),
    generated_b64: generated.data.map((image) => image.b64_json.length),
    models: models.data.map((model) => model.id),
  }),
);
