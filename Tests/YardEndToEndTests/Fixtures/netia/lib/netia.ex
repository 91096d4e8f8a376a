defmodule Netia.Application do
  use Application

  def start(_type, _args) do
    port = String.to_integer(System.get_env("PORT") || "4000")
    children = [{Task, fn -> Netia.Server.listen(port) end}]
    Supervisor.start_link(children, strategy: :one_for_one)
  end
end

defmodule Netia.Server do
  @moduledoc "A small HTTP/1.1 server on :gen_tcp: the stand-in for Phoenix (no hex packages offline)."
  @version "v1"

  def listen(port) do
    {:ok, socket} = :gen_tcp.listen(port, [:binary, packet: :http_bin, active: false, reuseaddr: true, backlog: 256])
    IO.puts("netia #{@version} listening on #{port}")
    accept(socket)
  end

  defp accept(socket) do
    {:ok, client} = :gen_tcp.accept(socket)
    pid = spawn(fn -> receive do: (:go -> serve(client)) end)
    :ok = :gen_tcp.controlling_process(client, pid)
    send(pid, :go)
    accept(socket)
  end

  defp serve(client) do
    case :gen_tcp.recv(client, 0, 10_000) do
      {:ok, {:http_request, method, {:abs_path, path}, _}} ->
        skip_headers(client)
        {status, body} = route(method, path)
        reply = "HTTP/1.1 #{status}\r\ncontent-type: text/plain\r\ncontent-length: #{byte_size(body)}\r\nconnection: close\r\n\r\n#{body}"
        :gen_tcp.send(client, reply)
      _ ->
        :ok
    end
    :gen_tcp.close(client)
  end

  defp skip_headers(client) do
    case :gen_tcp.recv(client, 0, 10_000) do
      {:ok, :http_eoh} -> :ok
      {:ok, _header} -> skip_headers(client)
      _ -> :ok
    end
  end

  defp route(:GET, "/"), do: {"200 OK", "netia #{@version}\n"}
  defp route(:GET, "/health"), do: {"200 OK", "ok\n"}

  defp route(:GET, "/messages/add?body=" <> body) do
    {out, code} = psql(["-c", "INSERT INTO messages (body) VALUES ('#{sanitize(body)}')"])
    if code == 0, do: {"201 Created", "stored\n"}, else: {"500 Internal Server Error", out}
  end

  defp route(:GET, "/messages") do
    {out, code} = psql(["-At", "-c", "SELECT body FROM messages ORDER BY id"])
    if code == 0, do: {"200 OK", out}, else: {"500 Internal Server Error", out}
  end

  defp route(:GET, "/visits") do
    {out, code} = System.cmd("redis-cli", ["--no-auth-warning", "-u", System.fetch_env!("REDIS_URL"), "INCR", "netia:visits"])
    if code == 0, do: {"200 OK", out}, else: {"500 Internal Server Error", out}
  end

  defp route(_, _), do: {"404 Not Found", "not found\n"}

  defp psql(args) do
    System.cmd("psql", [System.fetch_env!("DATABASE_URL"), "--quiet" | args], stderr_to_stdout: true)
  end

  defp sanitize(text), do: String.replace(text, ~r/[^A-Za-z0-9_-]/, "")
end
