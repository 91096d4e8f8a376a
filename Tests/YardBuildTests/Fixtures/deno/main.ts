Deno.serve({ port: Number(Deno.env.get("PORT")) }, () => new Response("hi"));
