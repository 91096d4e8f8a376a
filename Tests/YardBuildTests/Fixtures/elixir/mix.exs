defmodule Hello.MixProject do
  use Mix.Project
  def project, do: [app: :hello, version: "0.1.0", deps: deps()]
  defp deps, do: [{:phoenix, "~> 1.7"}]
end
