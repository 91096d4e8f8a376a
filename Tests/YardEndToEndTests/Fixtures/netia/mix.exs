defmodule Netia.MixProject do
  use Mix.Project

  def project do
    [app: :netia, version: "0.1.0", elixir: "~> 1.14", deps: [], releases: [netia: [include_erts: true]]]
  end

  def application do
    [mod: {Netia.Application, []}, extra_applications: [:logger]]
  end
end
