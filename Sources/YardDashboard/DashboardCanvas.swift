import Foundation
import YardCore

/// The project canvas: where each service's card sits and which services reference which
/// (`${{Postgres.DATABASE_URL}}` in web's variables draws web → Postgres).
public struct DashboardCanvas: Sendable, Equatable {
    public struct Card: Sendable, Equatable {
        public var name: String
        /// The card's top left corner, in pixels from the canvas's.
        public var x: Int
        public var y: Int
        public var centerX: Int { x + DashboardCanvas.cardWidth / 2 }
        public var centerY: Int { y + DashboardCanvas.cardHeight / 2 }
    }

    public struct Line: Sendable, Equatable {
        public var from: String
        public var to: String

        public init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    /// The card grid (the CSS in DashboardAssets uses the same sizes).
    public static let columns = 4
    public static let cardWidth = 240
    public static let cardHeight = 130
    public static let gap = 48
    static var cellWidth: Int { cardWidth + gap }
    static var cellHeight: Int { cardHeight + gap }

    public var cards: [Card]
    public var lines: [Line]

    public var width: Int { cards.map { $0.x + Self.cardWidth }.max() ?? Self.cardWidth }
    public var height: Int { cards.map { $0.y + Self.cardHeight }.max() ?? Self.cardHeight }

    /// Cards where they were dragged to, else in the services' order, four to a row; a line
    /// for each service another one's variable values name in a reference (each pair once,
    /// no line to itself or `shared`).
    public init(services: [String], variables: [String: [VariableView]], positions: [String: DashboardLayout.Position] = [:]) {
        cards = services.enumerated().map { index, name in
            let saved = positions[name]
            return Card(
                name: name, x: saved?.x ?? index % Self.columns * Self.cellWidth, y: saved?.y ?? index / Self.columns * Self.cellHeight)
        }
        var lines: [Line] = []
        for service in services {
            for variable in variables[service] ?? [] {
                for target in Self.referencedServices(in: variable.value ?? "") where target != service {
                    guard
                        let name = services.first(where: { $0 == target })
                            ?? services.first(where: { $0.lowercased() == target.lowercased() }),
                        name != service, !lines.contains(Line(from: service, to: name))
                    else { continue }
                    lines.append(Line(from: service, to: name))
                }
            }
        }
        self.lines = lines
    }

    /// The service names in a value's `${{service.KEY}}` references.
    static func referencedServices(in value: String) -> [String] {
        VariableReferences.services(in: value)
    }

    public func card(_ name: String) -> Card? { cards.first { $0.name == name } }
}
